//! SearchService routes: event browse by city and date, event detail and seat geometry.
//!
//! Every response is public and cacheable so that the CDN serves nearly all of them: browse lists
//! and event detail for 60 seconds, seat geometry for an hour. Each carries a strong `ETag`
//! (from the SHA-256 of the body), and a matching `If-None-Match` gets 304.
//!
//! The handlers only extract from the request; the `pub` functions below them do the work, so
//! that they can also be called without a full [`AppState`].

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use onsale_shared::api::{EventDetail, EventList};
use onsale_shared::{ErrorCode, EventId};

use super::extract::EventPath;
use super::{ApiError, ApiResult, AppState};
use crate::db::{EventFilter, SharedDatabase};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(browse))
        .route("/events/{event_id}", get(detail))
        .route("/events/{event_id}/seats", get(seats))
}

/// Cache-Control of browse lists.
pub const LIST_CACHE_CONTROL: &str = "public, max-age=60";
/// Cache-Control of event detail.
pub const DETAIL_CACHE_CONTROL: &str = "public, max-age=60";
/// Cache-Control of seat geometry, which does not change during a sale.
pub const SEATS_CACHE_CONTROL: &str = "public, max-age=3600";

/// Events per browse page when the request gives no `limit`.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;
/// Deepest `offset` accepted; past it, a narrower date range is the better query.
pub const MAX_OFFSET: u32 = 10_000;
/// Longest accepted `city`, in characters.
const MAX_CITY_CHARS: usize = 100;

async fn browse(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> ApiResult<Response> {
    browse_events(&state.db, &uri, &headers).await
}

async fn detail(State(state): State<AppState>, EventPath(event): EventPath, headers: HeaderMap) -> ApiResult<Response> {
    event_detail(&state.db, event, state.sale.max_seats, &headers).await
}

async fn seats(State(state): State<AppState>, EventPath(event): EventPath, headers: HeaderMap) -> ApiResult<Response> {
    seat_map(&state.db, event, &headers).await
}

/// `GET /events?city=&from=&to=&limit=&offset=`: events earliest first.
pub async fn browse_events(db: &SharedDatabase, uri: &Uri, headers: &HeaderMap) -> ApiResult<Response> {
    let filter = parse_browse_query(uri)?;
    let events = db.list_events(&filter).await?;
    let body = serde_json::to_vec(&EventList { events }).map_err(ApiError::internal)?;
    let body = Bytes::from(body);
    let etag = etag_of(&body);
    Ok(cacheable(body, &etag, LIST_CACHE_CONTROL, headers))
}

/// Reads the browse filters. `city` matches the whole name, case-insensitively; `from` and `to`
/// are inclusive local dates (YYYY-MM-DD). Other parameters, such as a cache buster, are ignored.
pub fn parse_browse_query(uri: &Uri) -> ApiResult<EventFilter> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|rejection| ApiError::invalid("query", uri.query().unwrap_or_default(), rejection.body_text()))?;
    let mut params: HashMap<&str, &str> = HashMap::new();
    for (key, value) in &pairs {
        if matches!(key.as_str(), "city" | "from" | "to" | "limit" | "offset")
            && params.insert(key.as_str(), value.as_str()).is_some()
        {
            return Err(ApiError::invalid(key, value, "the parameter is given more than once"));
        }
    }

    let mut filter = EventFilter { limit: DEFAULT_LIMIT, ..EventFilter::default() };
    if let Some(city) = params.get("city").map(|city| city.trim()).filter(|city| !city.is_empty()) {
        if city.chars().count() > MAX_CITY_CHARS || city.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "city",
                city,
                format!("expected a city name of at most {MAX_CITY_CHARS} characters"),
            ));
        }
        filter.city = Some(city.to_owned());
    }
    filter.from = params.get("from").map(|value| parse_date("from", value)).transpose()?;
    filter.to = params.get("to").map(|value| parse_date("to", value)).transpose()?;
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to < from
    {
        return Err(ApiError::invalid("to", to, format!("must not be before from ({from})")));
    }
    if let Some(value) = params.get("limit") {
        filter.limit = parse_count("limit", value, 1, MAX_LIMIT)?;
    }
    if let Some(value) = params.get("offset") {
        filter.offset = parse_count("offset", value, 0, MAX_OFFSET)?;
    }
    Ok(filter)
}

fn parse_date(field: &str, value: &str) -> ApiResult<NaiveDate> {
    // chrono also reads unpadded months and days; the length check keeps one spelling per date,
    // and so one CDN cache entry per query.
    let date = (value.len() == 10).then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()).flatten();
    date.ok_or_else(|| ApiError::invalid(field, value, "expected a date as YYYY-MM-DD"))
}

fn parse_count(field: &str, value: &str, min: u32, max: u32) -> ApiResult<u32> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ApiError::invalid(field, value, format!("expected a whole number from {min} to {max}")))
}

fn event_not_found(event: EventId) -> ApiError {
    ApiError::new(ErrorCode::EventNotFound).details(serde_json::json!({ "event_id": event }))
}

/// `GET /events/{event_id}`: the event with its priced categories.
pub async fn event_detail(
    db: &SharedDatabase,
    event: EventId,
    max_seats_per_order: u32,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let summary = db.event_summary(event).await?.ok_or_else(|| event_not_found(event))?;
    let categories = db.event_prices(event).await?;
    let detail = EventDetail { summary, categories, max_seats_per_order };
    let body = Bytes::from(serde_json::to_vec(&detail).map_err(ApiError::internal)?);
    let etag = etag_of(&body);
    Ok(cacheable(body, &etag, DETAIL_CACHE_CONTROL, headers))
}

/// `GET /events/{event_id}/seats`: the seat map, serialized once per event and process.
pub async fn seat_map(db: &SharedDatabase, event: EventId, headers: &HeaderMap) -> ApiResult<Response> {
    let cached = SEAT_MAPS.get(db, event).await?.ok_or_else(|| event_not_found(event))?;
    Ok(cacheable(cached.body.clone(), &cached.etag, SEATS_CACHE_CONTROL, headers))
}

/// Computes a strong entity tag from the first 128 bits of the body's SHA-256. The tag stays
/// the same across instances and releases, so a CDN can revalidate against any origin.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Returns whether `If-None-Match` lists `etag` or `*`. The comparison is weak, as RFC 9110
/// requires for this header, so a `W/` prefix that a proxy added still matches.
pub fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Builds a JSON response with its validators, or a bodiless 304 when the client's copy is current.
fn cacheable(body: Bytes, etag: &str, cache_control: &'static str, request_headers: &HeaderMap) -> Response {
    let mut response = if none_match(request_headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::from(body));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// A serialized seat map with its entity tag.
#[derive(Debug)]
pub struct CachedSeatMap {
    pub body: Bytes,
    pub etag: String,
}

/// How long a process reuses a serialized seat map before it reads EventDB again. Prices
/// inside the map change rarely; this bounds how long a change takes to show.
const SEAT_MAP_TTL: Duration = Duration::from_secs(300);

/// Most seat maps kept per process. A 70,000-seat map is about 3 MB of JSON.
const SEAT_MAP_ENTRIES: usize = 32;

/// Events are keyed with their database, because one process can serve several (tests do).
type SeatMapKey = (String, EventId);

struct SeatMapEntry {
    loaded_at: Instant,
    cell: Arc<OnceCell<Option<Arc<CachedSeatMap>>>>,
}

/// In-process cache of serialized seat maps. Concurrent first requests for one event share a
/// single load, so an onsale's opening burst costs one query and one serialization.
#[derive(Default)]
pub struct SeatMapCache {
    /// A std mutex: held only to find or insert an entry, never across an await.
    entries: Mutex<HashMap<SeatMapKey, SeatMapEntry>>,
}

/// The process's seat map cache. A static, because `AppState` has no field for it; a handle in
/// `AppState` would serve as well.
pub static SEAT_MAPS: LazyLock<SeatMapCache> = LazyLock::new(SeatMapCache::default);

impl SeatMapCache {
    /// Returns the event's serialized seat map, or `None` when the event does not exist.
    pub async fn get(&self, db: &SharedDatabase, event: EventId) -> ApiResult<Option<Arc<CachedSeatMap>>> {
        let key = (db.name().to_owned(), event);
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let fresh = entries.get(&key).is_some_and(|entry| entry.loaded_at.elapsed() < SEAT_MAP_TTL);
            if !fresh {
                make_room(&mut entries);
                entries
                    .insert(key.clone(), SeatMapEntry { loaded_at: Instant::now(), cell: Arc::new(OnceCell::new()) });
            }
            entries.get(&key).map(|entry| entry.cell.clone())
        };
        let Some(cell) = cell else {
            return load_seat_map(db, event).await;
        };
        let result = cell.get_or_try_init(|| load_seat_map(db, event)).await.cloned();
        if !matches!(result, Ok(Some(_))) {
            // Remember neither a miss nor a failure: the event may be created, or the database
            // come back, a moment later.
            self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&key);
        }
        result
    }

    /// Forgets every cached seat map.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}

/// Drops expired entries and, if the cache is still full, the oldest one.
fn make_room(entries: &mut HashMap<SeatMapKey, SeatMapEntry>) {
    entries.retain(|_, entry| entry.loaded_at.elapsed() < SEAT_MAP_TTL);
    if entries.len() >= SEAT_MAP_ENTRIES
        && let Some(oldest) = entries.iter().min_by_key(|(_, entry)| entry.loaded_at).map(|(key, _)| key.clone())
    {
        entries.remove(&oldest);
    }
}

async fn load_seat_map(db: &SharedDatabase, event: EventId) -> ApiResult<Option<Arc<CachedSeatMap>>> {
    let Some(map) = db.seat_map(event).await? else {
        return Ok(None);
    };
    let body = Bytes::from(serde_json::to_vec(&map).map_err(ApiError::internal)?);
    let etag = etag_of(&body);
    Ok(Some(Arc::new(CachedSeatMap { body, etag })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(query: &str) -> ApiResult<EventFilter> {
        parse_browse_query(&format!("/api/v1/events?{query}").parse::<Uri>().unwrap())
    }

    #[test]
    fn browse_query_reads_every_filter() {
        let parsed = filter("city=East%20Rutherford&from=2023-05-01&to=2023-05-31&limit=10&offset=20&utm=x").unwrap();
        assert_eq!(parsed.city.as_deref(), Some("East Rutherford"));
        assert_eq!(parsed.from, Some(NaiveDate::from_ymd_opt(2023, 5, 1).unwrap()));
        assert_eq!(parsed.to, Some(NaiveDate::from_ymd_opt(2023, 5, 31).unwrap()));
        assert_eq!((parsed.limit, parsed.offset), (10, 20));
        assert_eq!(filter("").unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(filter("city=").unwrap().city, None);
    }

    #[test]
    fn browse_query_rejects_bad_values() {
        for query in [
            "from=2023-5-1",
            "from=yesterday",
            "to=2023-02-30",
            "from=2023-06-01&to=2023-05-01",
            "limit=0",
            "limit=201",
            "offset=-1",
            "city=a&city=b",
        ] {
            let err = filter(query).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "query {query}");
        }
    }

    #[test]
    fn etag_matching_is_weak() {
        let etag = etag_of(b"body");
        let mut headers = HeaderMap::new();
        assert!(!none_match(&headers, &etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&format!("\"other\", W/{etag}")).unwrap());
        assert!(none_match(&headers, &etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&headers, &etag));
    }
}
