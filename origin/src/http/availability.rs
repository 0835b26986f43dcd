//! The availability bitmap route: one bit per seat as `application/octet-stream`, with a short
//! `max-age` so a CDN serves millions of viewers from a few origin requests a second, and an
//! `ETag` so an unchanged map costs a 304.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use onsale_shared::api::SEAT_COUNT_HEADER;
use onsale_shared::{EventId, SeatBitmap};

use super::extract::EventPath;
use super::{ApiError, ApiResult, AppState};
use onsale_shared::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events/{event_id}/availability", get(availability))
}

/// Cache-Control of the bitmap: fresh for one second at the CDN and in browsers.
pub const BITMAP_CACHE_CONTROL: &str = "public, max-age=1, stale-while-revalidate=1";

/// How long this process reuses a bitmap it read from Redis.
const LOCAL_TTL: Duration = Duration::from_millis(200);

#[derive(Clone)]
struct CachedBitmap {
    read_at: Instant,
    bytes: Arc<Vec<u8>>,
    etag: Arc<str>,
}

/// A per-process micro-cache in front of Redis, so a burst of viewers on one instance costs
/// one Redis read per event every 200 ms.
#[derive(Clone, Default)]
pub struct BitmapCache {
    /// A std mutex: held only to read or replace an entry, never across an await.
    entries: Arc<Mutex<HashMap<EventId, CachedBitmap>>>,
}

/// A strong ETag: the first 16 bytes of the body's SHA-256, stable across builds and instances.
fn etag_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!("\"b{}\"", hex::encode(&digest[..16]))
}

async fn availability(
    State(state): State<AppState>,
    EventPath(event): EventPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let info = state
        .catalog
        .event(event)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::EventNotFound).details(serde_json::json!({ "event_id": event })))?;

    let cached = {
        let entries = state.bitmaps.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(&event).filter(|entry| entry.read_at.elapsed() < LOCAL_TTL).cloned()
    };
    let bitmap = match cached {
        Some(entry) => entry,
        None => {
            let raw = state.store.bitmap(event).await?.unwrap_or_default();
            let bitmap = SeatBitmap::from_bytes(info.seat_count, &raw).map_err(ApiError::internal)?;
            let bytes = bitmap.as_bytes().to_vec();
            let entry = CachedBitmap { read_at: Instant::now(), etag: etag_of(&bytes).into(), bytes: Arc::new(bytes) };
            state.bitmaps.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(event, entry.clone());
            entry
        }
    };

    let etag = HeaderValue::from_str(&bitmap.etag).map_err(ApiError::internal)?;
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == &*bitmap.etag || tag.trim() == "*"));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(bitmap.bytes.as_ref().clone()))
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(BITMAP_CACHE_CONTROL));
    response_headers.insert(header::ETAG, etag);
    response_headers.insert(SEAT_COUNT_HEADER, HeaderValue::from(info.seat_count));
    Ok(response)
}
