//! The HTTP API: SearchService, WaitingRoomService and SeatService routes on one axum router.
//!
//! - [`error`]: `ApiError`, the one error type of the boundary.
//! - [`extract`]: extractors for the fan session, the admission token, JSON bodies and path ids.
//! - [`search`]: event browse, event detail, seat geometry (CDN-cacheable).
//! - [`availability`]: the availability bitmap as a binary body.
//! - [`queue`]: join, status and the WebSocket of the waiting room.
//! - [`seats`]: hold, release and confirm, and the order view.
//! - [`admin`]: operator controls of a queue and the sale's figures.

pub mod admin;
pub mod availability;
pub mod error;
pub mod extract;
pub mod queue;
pub mod search;
pub mod seats;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::Notify;
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
}

impl AppState {
    /// The queue state of an event that no operator has touched.
    pub fn default_queue_state(&self) -> QueueState {
        if self.sale.auto_open_queues { QueueState::Open } else { QueueState::NotOpen }
    }
}

/// Builds the router with every route and the shared middleware.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let api = Router::new()
        .route("/fans", post(create_fan))
        .merge(search::routes())
        .merge(availability::routes())
        .merge(queue::routes())
        .merge(seats::routes())
        .merge(admin::routes());

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .nest(onsale_shared::api::API_PREFIX, api)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound) })
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
