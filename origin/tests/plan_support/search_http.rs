//! HTTP-level checks of the SearchService routes on a running server. They need the full
//! platform (an `AppState` with Redis and Kafka handles), so a harness that serves it calls
//! them with its client, base URL and database:
//!
//! ```ignore
//! #[path = "../plan_support/search_http.rs"]
//! mod search_http;
//! search_http::check_search_routes(&app.http, &app.base, &app.db).await;
//! ```
//!
//! NOTE: this repository's own plan, seed and search test binaries do not start a server, so
//! these checks run only where such a harness calls them.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};

use onsale_origin::db::SharedDatabase;
use onsale_origin::plan::generate::Preset;
use onsale_origin::seed::{SeedOptions, seed};
use onsale_shared::api::{EventDetail, EventList, SeatMap};

/// Seeds the tour on small plans into `db`, then checks browse, detail and seat map over HTTP:
/// filters, 400 and 404 responses, cache headers and 304 revalidation. `base` is the server's
/// origin, such as `http://127.0.0.1:41234`.
pub async fn check_search_routes(http: &reqwest::Client, base: &str, db: &SharedDatabase) {
    let options = SeedOptions {
        csv: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/eras_tour_2023_us.csv"),
        only_date: None,
        only_venue: None,
        plan_preset: Preset::Small,
        tour_name: "The Eras Tour".to_owned(),
    };
    seed(db, &options).await.expect("seed the tour");
    let api = format!("{base}/api/v1");

    let response = http.get(format!("{api}/events?city=EAST%20RUTHERFORD")).send().await.expect("browse");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=60");
    let etag = response.headers()[ETAG].to_str().expect("ETag is ASCII").to_owned();
    let list: EventList = response.json().await.expect("an event list");
    assert_eq!(list.events.len(), 3, "MetLife Stadium has three dates");
    let event = list.events[0].id;

    let revalidated = http
        .get(format!("{api}/events?city=EAST%20RUTHERFORD"))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("revalidate");
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);

    let bad_date = http.get(format!("{api}/events?from=2023-13-01")).send().await.expect("browse");
    assert_eq!(bad_date.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = bad_date.json().await.expect("an error body");
    assert_eq!(body["error"]["code"], "invalid_request");
    assert_eq!(body["error"]["details"]["field"], "from");

    let detail = http.get(format!("{api}/events/{event}")).send().await.expect("detail");
    assert_eq!(detail.status(), StatusCode::OK);
    assert_eq!(detail.headers()[CACHE_CONTROL], "public, max-age=60");
    let detail: EventDetail = detail.json().await.expect("an event detail");
    assert_eq!(detail.summary.id, event);
    assert!(!detail.categories.is_empty(), "the seeded event has prices");

    let bad_id = http.get(format!("{api}/events/abc")).send().await.expect("detail");
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);
    let missing = http.get(format!("{api}/events/{}", i64::MAX)).send().await.expect("detail");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = missing.json().await.expect("an error body");
    assert_eq!(body["error"]["code"], "event_not_found");

    let seats = http.get(format!("{api}/events/{event}/seats")).send().await.expect("seat map");
    assert_eq!(seats.status(), StatusCode::OK);
    assert_eq!(seats.headers()[CACHE_CONTROL], "public, max-age=3600");
    let seats_etag = seats.headers()[ETAG].to_str().expect("ETag is ASCII").to_owned();
    let map: SeatMap = seats.json().await.expect("a seat map");
    assert_eq!(map.event_id, event);
    let drawn: usize = map.zones.iter().flat_map(|zone| &zone.rows).map(|row| row.seats.len()).sum();
    assert_eq!(drawn, map.seat_count as usize);

    let revalidated = http
        .get(format!("{api}/events/{event}/seats"))
        .header(IF_NONE_MATCH, &seats_etag)
        .send()
        .await
        .expect("revalidate the seat map");
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()[ETAG], seats_etag.as_str());
}
