//! Operator routes: open, pause, resume and close a queue, change its admission rate, and read
//! an event's sale figures. They answer only with the configured admin bearer token.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::{get, post};

use onsale_shared::api::{EventStats, QueueAction, QueueControl, QueueFigures, QueueState, TicketDeliveries};
use onsale_shared::{ErrorCode, EventId, SeatBitmap, SeatIndex};

use super::extract::{ApiJson, EventPath};
use super::{ApiError, ApiResult, AppState};
use crate::store::SeatState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/events/{event_id}/queue", post(control_queue).get(queue_figures))
        .route("/admin/events/{event_id}/stats", get(stats))
        .route("/admin/events/{event_id}/deliveries", get(deliveries))
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

/// Returns the queue and sale counters without the oversell checks, for polling during a sale.
async fn queue_figures(
    State(state): State<AppState>,
    _operator: Operator,
    EventPath(event): EventPath,
) -> ApiResult<axum::Json<QueueFigures>> {
    read_counters(&state, event).await.map(|counters| axum::Json(counters.figures))
}

/// The counters behind [`QueueFigures`] and [`EventStats`].
struct Counters {
    figures: QueueFigures,
    holds_started: u64,
    seats_sold_twice: u64,
}

/// Reads the queue meta, the hold counters, the bitmap and OrderDB's sale counts of an event.
async fn read_counters(state: &AppState, event: EventId) -> ApiResult<Counters> {
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
    let figures = QueueFigures {
        event_id: event,
        queue_state: meta.state,
        rate_per_second: meta.rate.unwrap_or(state.sale.admission_rate),
        waiting: meta.waiting + meta.prequeued,
        admitted: meta.admitted,
        holds_expired: holds.holds_expired,
        seats_unavailable_in_bitmap: bitmap.count_unavailable(),
        orders: sale.orders,
        seats_sold: sale.seats_sold,
        tickets_emailed: sale.tickets_emailed,
    };
    Ok(Counters { figures, holds_started: holds.holds_started, seats_sold_twice: sale.seats_sold_twice })
}

/// Ticket delivery times of the event: from each order's commit to each ticket's email.
async fn deliveries(
    State(state): State<AppState>,
    _operator: Operator,
    EventPath(event): EventPath,
) -> ApiResult<axum::Json<TicketDeliveries>> {
    state
        .catalog
        .event(event)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::EventNotFound).details(serde_json::json!({ "event_id": event })))?;
    let times = state.db.ticket_delivery_millis(event).await?;
    Ok(axum::Json(summarize_deliveries(event, &times)))
}

/// Percentiles of the emailed tickets' delivery times (nearest rank), with the count still
/// waiting. A clock step between the two timestamps can make a time negative; it counts as 0.
fn summarize_deliveries(event: EventId, times: &[Option<i64>]) -> TicketDeliveries {
    let mut emailed: Vec<u64> = times.iter().flatten().map(|ms| u64::try_from(*ms).unwrap_or(0)).collect();
    emailed.sort_unstable();
    let at = |quantile: f64| -> u64 {
        if emailed.is_empty() {
            return 0;
        }
        let rank = (quantile * emailed.len() as f64).ceil() as usize;
        emailed[rank.clamp(1, emailed.len()) - 1]
    };
    TicketDeliveries {
        event_id: event,
        emailed: emailed.len() as u64,
        waiting: (times.len() - emailed.len()) as u64,
        p50_ms: at(0.5),
        p90_ms: at(0.9),
        p99_ms: at(0.99),
        max_ms: emailed.last().copied().unwrap_or(0),
    }
}

/// The sale's figures, from the queue, the hold store, the bitmap and OrderDB.
pub async fn collect_stats(state: &AppState, event: EventId) -> ApiResult<EventStats> {
    let Counters { figures, holds_started, seats_sold_twice } = read_counters(state, event).await?;
    let sold: Vec<SeatIndex> = state.db.sold_seats(event).await?.into_iter().map(|(seat, _)| seat).collect();
    let states = state.store.seat_states(event, &sold).await?;
    let free = states.iter().filter(|seat| matches!(seat, SeatState::Free)).count();
    let held = states.iter().filter(|seat| matches!(seat, SeatState::Held(_))).count();

    Ok(EventStats {
        event_id: event,
        queue_state: figures.queue_state,
        rate_per_second: figures.rate_per_second,
        waiting: figures.waiting,
        admitted: figures.admitted,
        holds_started,
        holds_expired: figures.holds_expired,
        seats_unavailable_in_bitmap: figures.seats_unavailable_in_bitmap,
        orders: figures.orders,
        seats_sold: figures.seats_sold,
        tickets_emailed: figures.tickets_emailed,
        seats_sold_twice,
        sold_not_marked: free as u64,
        sold_marking_pending: held as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_percentiles_use_the_nearest_rank() {
        let event = EventId::new(7).unwrap();
        let mut times: Vec<Option<i64>> = (1..=100).map(Some).collect();
        times.extend([None, None, Some(-5)]);
        let summary = summarize_deliveries(event, &times);
        assert_eq!(summary.emailed, 101);
        assert_eq!(summary.waiting, 2);
        assert_eq!((summary.p50_ms, summary.p90_ms, summary.p99_ms, summary.max_ms), (50, 90, 99, 100));
    }

    #[test]
    fn no_emailed_ticket_gives_zeros() {
        let summary = summarize_deliveries(EventId::new(7).unwrap(), &[None]);
        assert_eq!((summary.emailed, summary.waiting, summary.p99_ms, summary.max_ms), (0, 1, 0, 0));
    }
}
