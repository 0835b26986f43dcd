//! Operator routes: open, pause, resume and close a queue, change its admission rate, and read
//! an event's sale figures. They answer only with the configured admin bearer token.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::{get, post};

use onsale_shared::api::{EventStats, QueueAction, QueueControl, QueueState};
use onsale_shared::{ErrorCode, EventId, SeatBitmap, SeatIndex};

use super::extract::{ApiJson, EventPath};
use super::{ApiError, ApiResult, AppState};
use crate::store::SeatState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/events/{event_id}/queue", post(control_queue))
        .route("/admin/events/{event_id}/stats", get(stats))
}

/// An operator, authenticated by `Authorization: Bearer <admin token>`.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let expected = state.admin_token.as_ref().ok_or_else(|| {
            ApiError::new(ErrorCode::AdminUnauthorized)
                .message("The operator API is off: no admin token is configured.")
        })?;
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if constant_time_eq(presented.as_bytes(), expected.expose().as_bytes()) {
            Ok(Operator)
        } else {
            Err(ApiError::new(ErrorCode::AdminUnauthorized))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

async fn control_queue(
    State(state): State<AppState>,
    _operator: Operator,
    EventPath(event): EventPath,
    ApiJson(control): ApiJson<QueueControl>,
) -> ApiResult<axum::Json<EventStats>> {
    state
        .catalog
        .event(event)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::EventNotFound).details(serde_json::json!({ "event_id": event })))?;
    if let Some(rate) = control.rate_per_second {
        if rate == 0 || rate > 1_000_000 {
            return Err(ApiError::invalid("rate_per_second", rate, "must be between 1 and 1000000"));
        }
        state.store.set_queue_rate(event, rate).await?;
    } else if control.action == QueueAction::SetRate {
        return Err(ApiError::invalid("rate_per_second", "null", "set_rate needs a rate"));
    }
    match control.action {
        QueueAction::Open => {
            state.store.activate_event(event).await?;
            let placed = state.store.open_queue(event).await?;
            tracing::info!(event.id = %event, prequeue.placed = placed, "queue opened");
        }
        QueueAction::Pause => state.store.set_queue_state(event, QueueState::Paused).await?,
        QueueAction::Resume => {
            // Resuming a queue that never opened is opening it: the prequeue must be placed.
            let meta = state.store.queue_meta(event, state.default_queue_state()).await?;
            if meta.state == QueueState::NotOpen {
                state.store.activate_event(event).await?;
                state.store.open_queue(event).await?;
            } else {
                state.store.set_queue_state(event, QueueState::Open).await?;
            }
        }
        QueueAction::Close => state.store.set_queue_state(event, QueueState::Closed).await?,
        QueueAction::SetRate => {}
    }
    tracing::info!(event.id = %event, action = ?control.action, rate = ?control.rate_per_second, "queue control applied");
    collect_stats(&state, event).await.map(axum::Json)
}

async fn stats(
    State(state): State<AppState>,
    _operator: Operator,
    EventPath(event): EventPath,
) -> ApiResult<axum::Json<EventStats>> {
    collect_stats(&state, event).await.map(axum::Json)
}

/// The sale's figures, from the queue, the hold store, the bitmap and OrderDB.
pub async fn collect_stats(state: &AppState, event: EventId) -> ApiResult<EventStats> {
    let info = state
        .catalog
        .event(event)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::EventNotFound).details(serde_json::json!({ "event_id": event })))?;
    let meta = state.store.queue_meta(event, state.default_queue_state()).await?;
    let holds = state.store.hold_stats(event).await?;
    let raw_bitmap = state.store.bitmap(event).await?.unwrap_or_default();
    let bitmap = SeatBitmap::from_bytes(info.seat_count, &raw_bitmap).map_err(ApiError::internal)?;
    let sale = state.db.sale_counts(event).await?;
    let sold: Vec<SeatIndex> = state.db.sold_seats(event).await?.into_iter().map(|(seat, _)| seat).collect();
    let states = state.store.seat_states(event, &sold).await?;
    let marked = states.iter().filter(|seat| matches!(seat, SeatState::Sold(_))).count();

    Ok(EventStats {
        event_id: event,
        queue_state: meta.state,
        rate_per_second: meta.rate.unwrap_or(state.sale.admission_rate),
        waiting: meta.waiting + meta.prequeued,
        admitted: meta.admitted,
        holds_started: holds.holds_started,
        holds_expired: holds.holds_expired,
        seats_unavailable_in_bitmap: bitmap.count_unavailable(),
        orders: sale.orders,
        seats_sold: sale.seats_sold,
        tickets_emailed: sale.tickets_emailed,
        seats_sold_twice: sale.seats_sold_twice,
        sold_not_marked: (sold.len() - marked) as u64,
    })
}
