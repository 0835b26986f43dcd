//! SearchService: browse, detail and seat map on the seeded tour, through the functions behind
//! the handlers. The routes themselves need a full `AppState`, so `plan_support::search_http`
//! checks them over HTTP for a harness that serves one. Needs PostgreSQL (see `plan_support`).

mod plan_support;

use axum::body::to_bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use onsale_origin::db::EventFilter;
use onsale_origin::http::search::{self, SEAT_MAPS};
use onsale_origin::plan::generate::Preset;
use onsale_origin::seed::{SeedOptions, seed};
use onsale_shared::EventId;
use onsale_shared::api::{EventDetail, EventList, SeatMap};
use plan_support::{TestDb, tour_csv};

async fn seeded() -> TestDb {
    let db = TestDb::create().await;
    let options = SeedOptions {
        csv: tour_csv(),
        only_date: None,
        only_venue: None,
        plan_preset: Preset::Small,
        tour_name: "The Eras Tour".to_owned(),
    };
    seed(&db.database, &options).await.expect("seed the tour");
    db
}

fn uri(query: &str) -> Uri {
    format!("/api/v1/events?{query}").parse().unwrap()
}

async fn body(response: Response) -> axum::body::Bytes {
    to_bytes(response.into_body(), usize::MAX).await.unwrap()
}

async fn browse(db: &TestDb, query: &str) -> EventList {
    let response = search::browse_events(&db.database, &uri(query), &HeaderMap::new()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    serde_json::from_slice(&body(response).await).unwrap()
}

fn if_none_match(etag: &HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::IF_NONE_MATCH, etag.clone());
    headers
}

#[tokio::test]
async fn browse_by_city_ignores_case() {
    let db = seeded().await;
    let list = browse(&db, "city=east%20RUTHERFORD").await;
    let dates: Vec<String> = list.events.iter().map(|event| event.local_date.to_string()).collect();
    assert_eq!(dates, ["2023-05-26", "2023-05-27", "2023-05-28"]);
    let first = &list.events[0];
    assert_eq!(first.name, "The Eras Tour | MetLife Stadium");
    assert_eq!(
        (first.venue.as_str(), first.city.as_str(), first.region.as_str(), first.country.as_str()),
        ("MetLife Stadium", "East Rutherford", "NJ", "US")
    );
    assert!(first.seat_count > 0);

    let nowhere = browse(&db, "city=Springfield").await;
    assert!(nowhere.events.is_empty());
    db.drop().await;
}

#[tokio::test]
async fn browse_by_dates_is_inclusive() {
    let db = seeded().await;
    let august = browse(&db, "from=2023-08-01&to=2023-08-09").await;
    assert_eq!(august.events.len(), 6, "the six SoFi Stadium dates");
    assert!(august.events.iter().all(|event| event.city == "Inglewood"));
    assert!(august.events.windows(2).all(|pair| pair[0].starts_at <= pair[1].starts_at), "earliest first");

    let one_day = browse(&db, "from=2023-08-09&to=2023-08-09").await;
    assert_eq!(one_day.events.len(), 1);
    let from_only = browse(&db, "from=2023-08-05").await;
    assert_eq!(from_only.events.len(), 4);
    let to_only = browse(&db, "to=2023-03-18").await;
    assert_eq!(to_only.events.len(), 2, "both Glendale dates");
    let city_and_dates = browse(&db, "city=Inglewood&from=2023-08-04&to=2023-08-07").await;
    assert_eq!(city_and_dates.events.len(), 3);
    db.drop().await;
}

#[tokio::test]
async fn browse_pages_with_limit_and_offset() {
    let db = seeded().await;
    let all = browse(&db, "limit=200").await;
    assert_eq!(all.events.len(), 53);
    let default_page = browse(&db, "").await;
    assert_eq!(default_page.events.len(), search::DEFAULT_LIMIT as usize);
    let page = browse(&db, "limit=5&offset=10").await;
    assert_eq!(page.events, all.events[10..15]);
    let tail = browse(&db, "offset=50").await;
    assert_eq!(tail.events.len(), 3);
    db.drop().await;
}

#[tokio::test]
async fn browse_rejects_a_bad_date() {
    let db = seeded().await;
    let err = search::browse_events(&db.database, &uri("from=2023-13-01"), &HeaderMap::new()).await.unwrap_err();
    let response = err.into_response();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let error: serde_json::Value = serde_json::from_slice(&body(response).await).unwrap();
    assert_eq!(error["error"]["code"], "invalid_request");
    assert_eq!(error["error"]["details"]["field"], "from");
    assert_eq!(error["error"]["details"]["value"], "2023-13-01");

    let backwards = search::browse_events(&db.database, &uri("from=2023-06-01&to=2023-05-01"), &HeaderMap::new()).await;
    assert_eq!(backwards.unwrap_err().into_response().status(), StatusCode::BAD_REQUEST);
    db.drop().await;
}

#[tokio::test]
async fn browse_answers_304_for_its_etag() {
    let db = seeded().await;
    let first = search::browse_events(&db.database, &uri("city=Tampa"), &HeaderMap::new()).await.unwrap();
    assert_eq!(first.headers()[header::CACHE_CONTROL], "public, max-age=60");
    assert_eq!(first.headers()[header::CONTENT_TYPE], "application/json");
    let etag = first.headers()[header::ETAG].clone();
    let first_body = body(first).await;
    assert_eq!(etag.to_str().unwrap(), search::etag_of(&first_body), "the tag is the body's hash");
    assert!(etag.to_str().unwrap().starts_with('"'), "a strong tag");

    let again = search::browse_events(&db.database, &uri("city=Tampa"), &if_none_match(&etag)).await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag);
    assert_eq!(again.headers()[header::CACHE_CONTROL], "public, max-age=60");
    assert!(body(again).await.is_empty());

    let other = search::browse_events(&db.database, &uri("city=Houston"), &if_none_match(&etag)).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK, "another list has another tag");
    db.drop().await;
}

#[tokio::test]
async fn detail_lists_prices_in_plan_order() {
    let db = seeded().await;
    let event = browse(&db, "city=Nashville").await.events[0].clone();
    let response = search::event_detail(&db.database, event.id, 8, &HeaderMap::new()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=60");
    let etag = response.headers()[header::ETAG].clone();
    let detail: EventDetail = serde_json::from_slice(&body(response).await).unwrap();
    assert_eq!(detail.summary, event);
    assert_eq!(detail.max_seats_per_order, 8);
    let prices: Vec<(&str, i64)> = detail.categories.iter().map(|c| (c.key.as_str(), c.price_cents)).collect();
    assert_eq!(
        prices,
        [("Floor", 44_900), ("Lower Bowl", 24_900), ("Club", 34_900), ("Mezzanine", 14_900), ("Upper Bowl", 4_900)]
    );
    assert!(detail.categories.iter().all(|c| c.currency == "USD" && c.color.is_some()));

    let again = search::event_detail(&db.database, event.id, 8, &if_none_match(&etag)).await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    db.drop().await;
}

#[tokio::test]
async fn unknown_event_is_404() {
    let db = seeded().await;
    let missing = EventId::new(999_999).unwrap();
    let detail = search::event_detail(&db.database, missing, 8, &HeaderMap::new()).await.unwrap_err();
    let response = detail.into_response();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: serde_json::Value = serde_json::from_slice(&body(response).await).unwrap();
    assert_eq!(error["error"]["code"], "event_not_found");

    let seats = search::seat_map(&db.database, missing, &HeaderMap::new()).await.unwrap_err();
    assert_eq!(seats.into_response().status(), StatusCode::NOT_FOUND);
    db.drop().await;
}

#[tokio::test]
async fn seat_map_matches_the_seats_table() {
    let db = seeded().await;
    let event = browse(&db, "city=Foxborough").await.events[0].id;
    let response = search::seat_map(&db.database, event, &HeaderMap::new()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=3600");
    let map: SeatMap = serde_json::from_slice(&body(response).await).unwrap();
    assert_eq!(map.event_id, event);

    let rows: Vec<(i32, String, String, String, f64, f64, i16)> = sqlx::query_as(
        "SELECT s.seat_index, s.zone, s.row_number, s.seat_number, s.x, s.y, s.category
         FROM seats s JOIN events e ON e.plan_id = s.plan_id WHERE e.id = $1 ORDER BY s.seat_index",
    )
    .bind(event.get())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(map.seat_count as usize, rows.len());

    let mut next = 0u32;
    for zone in &map.zones {
        for row in &zone.rows {
            assert_eq!(row.first_seat, next, "rows follow each other in seat-index order");
            for (k, seat) in row.seats.iter().enumerate() {
                let index = row.first_seat as usize + k;
                let (seat_index, db_zone, db_row, number, x, y, category) = &rows[index];
                assert_eq!(*seat_index as usize, index);
                assert_eq!((&zone.name, &row.number, seat.number()), (db_zone, db_row, number.as_str()));
                assert_eq!((seat.x(), seat.y()), (*x as f32, *y as f32));
                assert_eq!(seat.category(), *category as u16);
            }
            next += row.seats.len() as u32;
        }
    }
    assert_eq!(next, map.seat_count, "every seat appears once");

    let keys: Vec<&str> = map.categories.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["Floor", "Lower Bowl", "Club", "Mezzanine", "Upper Bowl"]);
    assert!(map.categories.iter().all(|c| c.price_cents.is_some() && c.color.is_some()));
    assert_eq!(map.zones[0].name, "Floor 1", "the field zone has no seats and so no entry");
    db.drop().await;
}

#[tokio::test]
async fn seat_map_is_cached_with_its_etag() {
    let db = seeded().await;
    let event = browse(&db, "city=Seattle").await.events[0].id;
    let first = search::seat_map(&db.database, event, &HeaderMap::new()).await.unwrap();
    let etag = first.headers()[header::ETAG].clone();
    let first_body = body(first).await;
    assert_eq!(etag.to_str().unwrap(), search::etag_of(&first_body));

    let revalidated = search::seat_map(&db.database, event, &if_none_match(&etag)).await.unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()[header::ETAG], etag);
    assert_eq!(revalidated.headers()[header::CACHE_CONTROL], "public, max-age=3600");

    // A price change does not show until the cached map expires or is cleared.
    sqlx::query("UPDATE event_categories SET price_cents = price_cents + 100 WHERE event_id = $1")
        .bind(event.get())
        .execute(&db.pool)
        .await
        .unwrap();
    let cached = search::seat_map(&db.database, event, &HeaderMap::new()).await.unwrap();
    assert_eq!(body(cached).await, first_body);
    SEAT_MAPS.clear();
    let fresh = search::seat_map(&db.database, event, &if_none_match(&etag)).await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK, "the new prices make a new tag");
    db.drop().await;
}

#[tokio::test]
async fn list_events_reads_the_filter() {
    let db = seeded().await;
    let filter = EventFilter {
        city: Some("ARLINGTON".to_owned()),
        from: Some("2023-04-01".parse().unwrap()),
        to: None,
        limit: 10,
        offset: 0,
    };
    let events = db.database.list_events(&filter).await.unwrap();
    let dates: Vec<String> = events.iter().map(|event| event.local_date.to_string()).collect();
    assert_eq!(dates, ["2023-04-01", "2023-04-02"]);
    db.drop().await;
}
