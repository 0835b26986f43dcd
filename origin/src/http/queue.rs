//! WaitingRoomService routes: join, status and the WebSocket that pushes position updates and,
//! once the fan is admitted, the token.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{get, post};
use futures::{SinkExt, StreamExt};

use onsale_shared::api::{QueueState, QueueStatus};
use onsale_shared::{ErrorCode, EventId, FanId};

use super::extract::{Caller, EventPath};
use super::{ApiError, ApiResult, AppState};
use crate::store::{JoinOutcome, QueueMeta, StatusOutcome, StoredAdmission};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events/{event_id}/queue", post(join).get(status))
        .route("/events/{event_id}/queue/ws", get(socket))
}

/// How often a socket re-reads its fan's exact rank, between estimates from the counters.
const EXACT_REFRESH: Duration = Duration::from_secs(5);
/// Largest message a fan may send on the queue socket, in bytes, and the socket's read buffer.
const SOCKET_MESSAGE_LIMIT: usize = 4096;

async fn ensure_event(state: &AppState, event: EventId) -> ApiResult<()> {
    match state.catalog.event(event).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(ErrorCode::EventNotFound).details(serde_json::json!({ "event_id": event }))),
    }
}

fn queued(rank: u64, paused: bool, meta: Option<&QueueMeta>) -> QueueStatus {
    let position = rank + 1;
    let admission_rate = meta.map(|m| m.measured_rate).unwrap_or(0.0);
    let eta_seconds = (admission_rate > 0.0 && !paused).then(|| (position as f64 / admission_rate).ceil() as u64);
    QueueStatus::Queued { position, ahead: rank, eta_seconds, admission_rate, paused }
}

fn admitted(admission: StoredAdmission) -> QueueStatus {
    QueueStatus::Admitted { token: admission.token, expires_at: admission.expires_at }
}

fn status_from(outcome: StatusOutcome, meta: Option<&QueueMeta>) -> QueueStatus {
    match outcome {
        StatusOutcome::Queued { rank, paused } => queued(rank, paused, meta),
        StatusOutcome::Admitted(admission) => admitted(admission),
        StatusOutcome::Prequeue => QueueStatus::Prequeue,
        StatusOutcome::NotQueued(QueueState::NotOpen) => QueueStatus::NotOpen,
        StatusOutcome::NotQueued(QueueState::Closed) => QueueStatus::SoldOut,
        StatusOutcome::NotQueued(_) => QueueStatus::NotQueued,
    }
}

/// Joins the event's queue. Idempotent per fan: joining again returns the same place, or the
/// token once admitted.
async fn join(
    State(state): State<AppState>,
    EventPath(event): EventPath,
    Caller(fan): Caller,
) -> ApiResult<axum::Json<QueueStatus>> {
    ensure_event(&state, event).await?;
    let outcome = state.store.join(event, &fan, state.default_queue_state()).await?;
    if state.sale.auto_open_queues {
        state.store.activate_event(event).await?;
    }
    let meta = state.queue_watch.latest(event);
    let status = match outcome {
        JoinOutcome::Queued { rank, paused } => queued(rank, paused, meta.as_deref()),
        JoinOutcome::Admitted(admission) => admitted(admission),
        JoinOutcome::Prequeue => QueueStatus::Prequeue,
        JoinOutcome::Closed => return Err(ApiError::new(ErrorCode::SoldOut)),
    };
    Ok(axum::Json(status))
}

/// The fan's place, or the token once admitted (fetchable again until it expires).
async fn status(
    State(state): State<AppState>,
    EventPath(event): EventPath,
    Caller(fan): Caller,
) -> ApiResult<axum::Json<QueueStatus>> {
    ensure_event(&state, event).await?;
    let outcome = state.store.queue_status(event, &fan, state.default_queue_state()).await?;
    let meta = state.queue_watch.latest(event);
    Ok(axum::Json(status_from(outcome, meta.as_deref())))
}

async fn socket(
    State(state): State<AppState>,
    EventPath(event): EventPath,
    Caller(fan): Caller,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    ensure_event(&state, event).await?;
    // Fans send nothing but control frames. tungstenite zero-fills its whole read buffer before
    // each read, 128 KiB by default, which cost more CPU than anything else on the socket.
    Ok(upgrade
        .max_message_size(SOCKET_MESSAGE_LIMIT)
        .read_buffer_size(SOCKET_MESSAGE_LIMIT)
        .on_upgrade(move |socket| serve_socket(socket, state, event, fan)))
}

/// Pushes the fan's status whenever it changes; closes after sending a token or sold-out.
async fn serve_socket(socket: WebSocket, state: AppState, event: EventId, fan: FanId) {
    let (mut sender, mut receiver) = socket.split();
    let mut meta_rx = state.queue_watch.subscribe(event);
    let mut last_sent: Option<QueueStatus> = None;
    // Exact rank and the admitted counter when it was read; the estimate counts down from it.
    let mut anchor: Option<(u64, u64)> = None;
    let mut next_exact = tokio::time::Instant::now();

    loop {
        let meta = meta_rx.borrow_and_update().clone();
        let estimate_passed_zero = match (anchor, meta.as_deref()) {
            (Some((rank, admitted_then)), Some(meta)) => meta.admitted.saturating_sub(admitted_then) > rank,
            _ => true,
        };
        let state_changed = match (&last_sent, meta.as_deref()) {
            (Some(QueueStatus::Queued { paused, .. }), Some(meta)) => {
                *paused != (meta.state == QueueState::Paused) || meta.state == QueueState::Closed
            }
            (Some(QueueStatus::Prequeue | QueueStatus::NotOpen), Some(meta)) => meta.state != QueueState::NotOpen,
            _ => false,
        };

        let status = if estimate_passed_zero || state_changed || tokio::time::Instant::now() >= next_exact {
            next_exact = tokio::time::Instant::now() + EXACT_REFRESH;
            match state.store.queue_status(event, &fan, state.default_queue_state()).await {
                Ok(outcome) => {
                    if let StatusOutcome::Queued { rank, .. } = &outcome {
                        anchor = Some((*rank, meta.as_deref().map(|m| m.admitted).unwrap_or(0)));
                    }
                    status_from(outcome, meta.as_deref())
                }
                Err(err) => {
                    tracing::warn!(event.id = %event, cause = %err, "queue status for a socket failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        } else {
            let (rank, admitted_then) = anchor.unwrap_or_default();
            let admitted_now = meta.as_deref().map(|m| m.admitted).unwrap_or(admitted_then);
            let rank = rank.saturating_sub(admitted_now.saturating_sub(admitted_then));
            let paused = meta.as_deref().is_some_and(|m| m.state == QueueState::Paused);
            queued(rank, paused, meta.as_deref())
        };

        if last_sent.as_ref() != Some(&status) {
            let text = serde_json::to_string(&status).unwrap_or_default();
            if sender.send(Message::Text(text.into())).await.is_err() {
                return;
            }
            let last = matches!(status, QueueStatus::Admitted { .. } | QueueStatus::SoldOut);
            last_sent = Some(status);
            if last {
                let _ = sender.send(Message::Close(None)).await;
                return;
            }
        }

        tokio::select! {
            changed = meta_rx.changed() => {
                if changed.is_err() {
                    // The poller stopped; subscribe again, which starts a new one.
                    meta_rx = state.queue_watch.subscribe(event);
                }
            }
            incoming = receiver.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(next_exact) => {}
        }
    }
}
