//! The HTTP API: SearchService, WaitingRoomService and SeatService routes on one axum router.
//!
//! - [`error`]: `ApiError`, the one error type of the boundary.
//! - [`extract`]: extractors for the fan session, the admission token, JSON bodies and path ids.
//! - [`search`]: event browse, event detail, seat geometry (CDN-cacheable).
//! - [`availability`]: the availability bitmap as a binary body.
//! - [`queue`]: join, status and the WebSocket of the waiting room.
//! - [`seats`]: hold, release and confirm, and the order view.
//! - [`admin`]: operator controls of a queue and the sale's figures.
//!
//! With a web app directory configured, the router's fallback also serves the fans' web app:
//! its files, and `index.html` for the paths of the app's own pages (see [`serve_web_app`]).

pub mod admin;
pub mod availability;
pub mod error;
pub mod extract;
pub mod queue;
pub mod search;
pub mod seats;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use onsale_shared::ErrorCode;
use onsale_shared::api::{FanSession, QueueState};
use onsale_shared::token::{TokenIssuer, TokenVerifier};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::config::{SaleConfig, Secret};
use crate::db::SharedDatabase;
use crate::payment::PaymentProvider;
use crate::pipeline::SeatChangePublisher;
use crate::session::FanSessions;
use crate::store::SharedStore;
use crate::waiting_room::watch::QueueWatch;

pub use error::{ApiError, ApiResult};

/// Everything a request handler may use. Cloning is cheap: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub sale: Arc<SaleConfig>,
    pub db: SharedDatabase,
    pub store: SharedStore,
    pub catalog: Catalog,
    pub issuer: TokenIssuer,
    pub verifier: TokenVerifier,
    pub sessions: FanSessions,
    pub publisher: SeatChangePublisher,
    pub payments: Arc<dyn PaymentProvider>,
    pub clock: Clock,
    /// Woken after each committed order so the outbox relay sends its tickets at once.
    pub outbox_wake: Arc<Notify>,
    pub admin_token: Option<Secret>,
    pub bitmaps: availability::BitmapCache,
    pub queue_watch: QueueWatch,
    /// TTL of new holds in milliseconds: `sale.hold_ttl` at start. `onsale up --demo
    /// --keep-serving` shortens it for the demo and restores it afterwards.
    pub hold_ttl_ms: Arc<AtomicU64>,
}

impl AppState {
    /// The TTL that new holds get.
    pub fn hold_ttl(&self) -> Duration {
        Duration::from_millis(self.hold_ttl_ms.load(Ordering::Relaxed))
    }

    /// Changes the TTL of holds made from now on; holds already made keep theirs.
    pub fn set_hold_ttl(&self, ttl: Duration) {
        self.hold_ttl_ms.store(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The queue state of an event that no operator has touched.
    pub fn default_queue_state(&self) -> QueueState {
        if self.sale.auto_open_queues { QueueState::Open } else { QueueState::NotOpen }
    }
}

/// Builds the router with every route and the shared middleware. With `static_dir`, paths
/// outside `/api/` serve the web app from that directory.
pub fn router(state: AppState, max_body_bytes: usize, static_dir: Option<&Path>) -> Router {
    let api = Router::new()
        .route("/fans", post(create_fan))
        .merge(search::routes())
        .merge(availability::routes())
        .merge(queue::routes())
        .merge(seats::routes())
        .merge(admin::routes());

    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .nest(onsale_shared::api::API_PREFIX, api);
    let router = match static_dir {
        Some(dir) => {
            let dir = Arc::new(dir.to_owned());
            router.fallback(move |request: Request| serve_web_app(dir.clone(), request))
        }
        None => router.fallback(|| async { ApiError::new(ErrorCode::NotFound) }),
    };
    router
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map(|path| path.as_str().to_owned())
                .unwrap_or_else(|| "unmatched".to_owned());
            tracing::info_span!("request", http.method = %request.method(), http.route = %route)
        }))
        .with_state(state)
}

/// Cache-Control of content-hashed assets, whose names change whenever their content does.
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// Cache-Control of `index.html` and of any file whose name stays the same between builds:
/// caches keep it but ask again each time, so a new build shows at once.
pub const PAGE_CACHE_CONTROL: &str = "no-cache";

/// Serves the web app to a request that no route matched:
/// - under `/api/`, the JSON `not_found` error, as without a web app;
/// - other methods than GET and HEAD get `method_not_allowed`;
/// - a file of the directory is served with [`ASSET_CACHE_CONTROL`] when its name carries a
///   content hash, else with [`PAGE_CACHE_CONTROL`];
/// - a missing path whose last segment has no dot is one of the app's own pages, such as
///   `/events/26/queue`, and gets `index.html`;
/// - a missing file, such as an old build's `/app-0ld.js`, gets the JSON `not_found` error.
async fn serve_web_app(dir: Arc<PathBuf>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::new(ErrorCode::NotFound).into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return ApiError::new(ErrorCode::MethodNotAllowed).into_response();
    }

    // Keep what a second request for index.html needs: the method and the conditional headers.
    let method = request.method().clone();
    let headers = request.headers().clone();
    let mut files = ServeDir::new(dir.as_path());
    let mut response = match files.try_call(request).await {
        Ok(response) => response,
        Err(err) => return ApiError::internal(err).into_response(),
    };
    let mut served_path = path.as_str();
    if response.status() == StatusCode::NOT_FOUND && is_page_path(&path) {
        let mut index = Request::new(Body::empty());
        *index.method_mut() = method;
        *index.uri_mut() = axum::http::Uri::from_static("/index.html");
        *index.headers_mut() = headers;
        response = match files.try_call(index).await {
            Ok(response) => response,
            Err(err) => return ApiError::internal(err).into_response(),
        };
        served_path = "/index.html";
    }
    if response.status() == StatusCode::NOT_FOUND {
        return ApiError::new(ErrorCode::NotFound).into_response();
    }

    let mut response = response.map(Body::new);
    let cache_control = if is_hashed_asset(served_path) { ASSET_CACHE_CONTROL } else { PAGE_CACHE_CONTROL };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Returns whether a path names one of the web app's pages rather than a file, that is whether
/// its last segment has no dot.
fn is_page_path(path: &str) -> bool {
    !path.rsplit('/').next().unwrap_or_default().contains('.')
}

/// Returns whether a file name carries a content hash, as `scripts/build-frontend.sh` names them:
/// `app-<hex>.js`, `app-<hex>_bg.wasm`, `style-<hex>.css`, with at least 8 hex digits.
pub fn is_hashed_asset(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let Some((stem, _extension)) = name.split_once('.') else {
        return false;
    };
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-').is_some_and(|(_, hash)| hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Starts a fan session: a new fan id with its signed session string.
async fn create_fan(State(state): State<AppState>) -> impl IntoResponse {
    let fan_id = onsale_shared::FanId::random();
    let session = state.sessions.issue(&fan_id);
    (StatusCode::CREATED, axum::Json(FanSession { fan_id, session }))
}

/// Readiness: the hold store and the database both respond within a second.
async fn ready(State(state): State<AppState>) -> ApiResult<&'static str> {
    let timeout = Duration::from_secs(1);
    tokio::time::timeout(timeout, state.store.ping())
        .await
        .map_err(|elapsed| ApiError::unavailable(elapsed).message("Redis did not answer in time."))??;
    tokio::time::timeout(timeout, state.db.ping())
        .await
        .map_err(|elapsed| ApiError::unavailable(elapsed).message("The database did not respond in time."))??;
    Ok("ready")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_assets_are_recognized() {
        assert!(is_hashed_asset("/app-0123456789abcdef.js"));
        assert!(is_hashed_asset("/app-0123456789abcdef_bg.wasm"));
        assert!(is_hashed_asset("/style-deadbeef.css"));
        assert!(!is_hashed_asset("/index.html"));
        assert!(!is_hashed_asset("/favicon.ico"));
        assert!(!is_hashed_asset("/app-latest.js"), "not hex");
        assert!(!is_hashed_asset("/app-abc.js"), "too short for a hash");
        assert!(!is_hashed_asset("/"));
    }

    #[test]
    fn page_paths_have_no_file_extension() {
        assert!(is_page_path("/"));
        assert!(is_page_path("/events/26/queue"));
        assert!(is_page_path("/orders/0f8c7d2e-1b7a-4d55-9d1e-5a4c3b2a1f00"));
        assert!(!is_page_path("/app-0123456789abcdef.js"));
        assert!(!is_page_path("/favicon.ico"));
    }
}
