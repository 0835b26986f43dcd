//! SeatService routes: hold, release and confirm seats, and read an order.
//!
//! Every seat route takes [`Admitted`], so it runs only with a verified admission token for
//! the route's event and the calling fan. One admission backs one live hold at a time and one
//! order: the hold script binds the token's nonce to the hold in the same atomic step that takes
//! the seats, releasing or expiring the hold frees the nonce again, and a confirmed order spends
//! it until the token expires.

use std::collections::HashSet;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};

use onsale_shared::api::{ConfirmRequest, HoldRequest, HoldResponse, OrderView};
use onsale_shared::{ErrorCode, EventId, HoldId, OrderId, SeatIndex};

use super::extract::{Admitted, ApiJson, Caller, HoldPath, OrderPath};
use super::{ApiError, ApiResult, AppState};
use crate::catalog::EventInfo;
use crate::db::{InsertOrderError, NewOrder};
use crate::payment::{ChargeRequest, PaymentError};
use crate::pipeline::{ChangeCause, SeatChangeMessage};
use crate::store::{ClaimOutcome, HoldAttempt, HoldOutcome, HoldRecord, ReleaseOutcome};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events/{event_id}/holds", post(hold))
        .route("/events/{event_id}/holds/{hold_id}", delete(release))
        .route("/events/{event_id}/holds/{hold_id}/confirm", post(confirm))
        .route("/orders/{order_id}", get(order))
}

/// How long a confirmation keeps its seats while it writes the order.
const CLAIM_TTL: Duration = Duration::from_secs(120);

async fn event_info(state: &AppState, event: EventId) -> ApiResult<std::sync::Arc<EventInfo>> {
    state
        .catalog
        .event(event)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::EventNotFound).details(serde_json::json!({ "event_id": event })))
}

/// Checks the requested seats: 1..=max, no repeats, each existing and for sale. Returns them with
/// their prices.
fn priced_seats(info: &EventInfo, seats: &[SeatIndex], max_seats: u32) -> ApiResult<Vec<(SeatIndex, i64)>> {
    if seats.is_empty() {
        return Err(ApiError::invalid("seats", "[]", "pick at least one seat"));
    }
    if seats.len() > max_seats as usize {
        return Err(ApiError::new(ErrorCode::TooManySeats)
            .message(format!("At most {max_seats} seats per order."))
            .details(serde_json::json!({ "max_seats": max_seats, "requested": seats.len() })));
    }
    let mut seen = HashSet::with_capacity(seats.len());
    let mut priced = Vec::with_capacity(seats.len());
    for seat in seats {
        if !seen.insert(*seat) {
            return Err(ApiError::new(ErrorCode::InvalidSeat)
                .message(format!("Seat {seat} is listed twice."))
                .details(serde_json::json!({ "seat": seat })));
        }
        let price = info.price(*seat).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidSeat)
                .message(format!("Seat {seat} does not exist at this event or is not for sale."))
                .details(serde_json::json!({ "seat": seat, "seat_count": info.seat_count }))
        })?;
        priced.push((*seat, price));
    }
    Ok(priced)
}

fn millis_to_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Holds 1..N seats, all or none.
async fn hold(
    State(state): State<AppState>,
    admitted: Admitted,
    ApiJson(request): ApiJson<HoldRequest>,
) -> ApiResult<(StatusCode, axum::Json<HoldResponse>)> {
    let event = admitted.event;
    let info = event_info(&state, event).await?;
    let priced = priced_seats(&info, &request.seats, state.sale.max_seats)?;
    let hold_id = HoldId::random();
    let attempt = HoldAttempt {
        event,
        hold: hold_id,
        fan: &admitted.fan,
        nonce: &admitted.admission.claims.nonce,
        seats: &request.seats,
        ttl: state.hold_ttl(),
    };
    match state.store.hold(&attempt).await? {
        HoldOutcome::Held { expires_at_ms, versions } => {
            state.publisher.publish(&SeatChangeMessage::new(event, ChangeCause::Hold, &versions));
            tracing::debug!(event.id = %event, hold.id = %hold_id, seats = request.seats.len(), "seats held");
            let response = HoldResponse {
                hold_id,
                event_id: event,
                seats: request.seats,
                expires_at: millis_to_time(expires_at_ms),
                total_cents: priced.iter().map(|(_, price)| price).sum(),
                currency: info.currency.clone(),
            };
            Ok((StatusCode::CREATED, axum::Json(response)))
        }
        HoldOutcome::NonceUsed => Err(ApiError::new(ErrorCode::AdmissionTokenUsed)
            .message("This admission already backs a hold or an order. Release the hold to pick other seats.")),
        HoldOutcome::Unavailable(taken) => {
            Err(ApiError::new(ErrorCode::SeatUnavailable).details(serde_json::json!({ "seats": taken })))
        }
    }
}

/// Loads a hold that belongs to the calling fan, or answers 404.
async fn fans_hold(state: &AppState, admitted: &Admitted, hold: HoldId) -> ApiResult<HoldRecord> {
    match state.store.hold_record(admitted.event, hold).await? {
        Some(record) if record.fan == admitted.fan => Ok(record),
        _ => Err(ApiError::new(ErrorCode::HoldNotFound).details(serde_json::json!({ "hold_id": hold }))),
    }
}

/// Releases a hold: its seats return to sale and the admission may hold again.
async fn release(State(state): State<AppState>, admitted: Admitted, HoldPath(hold): HoldPath) -> ApiResult<StatusCode> {
    let record = fans_hold(&state, &admitted, hold).await?;
    match state.store.release(admitted.event, &record, &admitted.fan).await? {
        ReleaseOutcome::Released(versions) => {
            state.publisher.publish(&SeatChangeMessage::new(admitted.event, ChangeCause::Release, &versions));
            tracing::debug!(event.id = %admitted.event, hold.id = %hold, "hold released");
            Ok(StatusCode::NO_CONTENT)
        }
        ReleaseOutcome::NotFound => {
            Err(ApiError::new(ErrorCode::HoldNotFound).details(serde_json::json!({ "hold_id": hold })))
        }
    }
}

fn check_email(email: &str) -> ApiResult<()> {
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid { Ok(()) } else { Err(ApiError::invalid("email", email, "expected an address such as fan@example.com")) }
}

/// Confirms a hold: charges the card, writes the order, marks the seats sold. A payment that
/// completes after the hold expired takes the seats again if they are still free, and is
/// refunded otherwise.
async fn confirm(
    State(state): State<AppState>,
    admitted: Admitted,
    HoldPath(hold): HoldPath,
    ApiJson(request): ApiJson<ConfirmRequest>,
) -> ApiResult<(StatusCode, axum::Json<OrderView>)> {
    let event = admitted.event;
    check_email(&request.email)?;
    let info = event_info(&state, event).await?;

    // A retried confirmation finds its order instead of charging again.
    if let Some((order, fan)) = state.db.order_for_hold(hold).await? {
        if fan != admitted.fan {
            return Err(ApiError::new(ErrorCode::HoldNotFound).details(serde_json::json!({ "hold_id": hold })));
        }
        return existing_order(&state, order, &admitted).await.map(|view| (StatusCode::OK, view));
    }

    let record = fans_hold(&state, &admitted, hold).await?;
    let priced = priced_seats(&info, &record.seats, u32::MAX)?;
    let amount_cents: i64 = priced.iter().map(|(_, price)| price).sum();

    let payment_ref = state
        .payments
        .charge(ChargeRequest {
            amount_cents,
            currency: &info.currency,
            card_number: &request.card_number,
            idempotency_key: hold.to_string(),
        })
        .await
        .map_err(payment_error)?;
    let refund = Refund { state: &state, payment_ref: &payment_ref, event, hold, amount_cents };

    let claim = match state.store.claim_for_sale(event, &record, CLAIM_TTL).await {
        Ok(claim) => claim,
        Err(err) => {
            refund.issue("hold store unavailable").await;
            return Err(err.into());
        }
    };
    match claim {
        ClaimOutcome::Claimed { retaken } => {
            state.publisher.publish(&SeatChangeMessage::new(event, ChangeCause::Retake, &retaken));
        }
        ClaimOutcome::NonceRebound => {
            refund.issue("admission backs another hold").await;
            return Err(ApiError::new(ErrorCode::AdmissionTokenUsed)
                .message("This admission now backs another hold or order. The payment has been refunded."));
        }
        ClaimOutcome::Conflict(seats) => {
            refund.issue("hold expired and seats were taken").await;
            return Err(ApiError::new(ErrorCode::HoldExpired).details(serde_json::json!({ "seats": seats })));
        }
    }

    let order_id = OrderId::random();
    let new_order = NewOrder {
        id: order_id,
        event,
        hold,
        fan: &admitted.fan,
        email: &request.email,
        currency: &info.currency,
        payment_ref: &payment_ref,
        seats: priced,
    };
    match state.db.insert_order(&new_order).await {
        Ok(()) => {}
        Err(InsertOrderError::HoldOrdered) => {
            refund.issue("hold already ordered").await;
            let (order, _) = state
                .db
                .order_for_hold(hold)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order of hold {hold} vanished")))?;
            return existing_order(&state, order, &admitted).await.map(|view| (StatusCode::OK, view));
        }
        Err(InsertOrderError::SeatSold(sold)) => {
            refund.issue("seat already sold").await;
            return Err(seat_sold(&state, event, &record, &sold).await);
        }
        Err(InsertOrderError::Database(err)) => {
            refund.issue("order could not be written").await;
            return Err(ApiError::from(err).retry_after(2));
        }
    }
    state.outbox_wake.notify_one();
    tracing::info!(event.id = %event, hold.id = %hold, order.id = %order_id, seats = record.seats.len(), "order confirmed");

    let nonce_ttl = (admitted.admission.expires_at - state.clock.now()).to_std().unwrap_or_default();
    match state.store.mark_sold(event, &record, order_id, nonce_ttl).await {
        Ok(versions) => state.publisher.publish(&SeatChangeMessage::new(event, ChangeCause::Sale, &versions)),
        // The order is committed, which is what counts. The expiry worker checks OrderDB before it
        // frees the claimed seats, and marks them sold then.
        Err(err) => {
            tracing::error!(event.id = %event, order.id = %order_id, cause = %err, "marking sold seats in Redis failed")
        }
    }

    let view = state
        .db
        .order_view(order_id, &admitted.fan)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("order {order_id} not readable after commit")))?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

async fn existing_order(state: &AppState, order: OrderId, admitted: &Admitted) -> ApiResult<axum::Json<OrderView>> {
    state
        .db
        .order_view(order, &admitted.fan)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound))
}

/// The UNIQUE guard fired: the database already has a sale for some of these seats though the
/// hold store let the hold through. Marks those seats sold in the hold store and releases the
/// rest of the hold.
async fn seat_sold(state: &AppState, event: EventId, record: &HoldRecord, sold: &[(SeatIndex, OrderId)]) -> ApiError {
    tracing::warn!(event.id = %event, hold.id = %record.hold, seats = ?sold, "UNIQUE guard stopped a second sale");
    match state.store.repair_sold(event, sold).await {
        Ok(versions) => state.publisher.publish(&SeatChangeMessage::new(event, ChangeCause::Sale, &versions)),
        Err(err) => tracing::error!(event.id = %event, cause = %err, "marking sold seats in Redis failed"),
    }
    match state.store.release(event, record, &record.fan).await {
        Ok(ReleaseOutcome::Released(versions)) => {
            state.publisher.publish(&SeatChangeMessage::new(event, ChangeCause::Release, &versions))
        }
        Ok(ReleaseOutcome::NotFound) => {}
        Err(err) => tracing::error!(event.id = %event, hold.id = %record.hold, cause = %err, "releasing a hold failed"),
    }
    let seats: Vec<SeatIndex> = sold.iter().map(|(seat, _)| *seat).collect();
    ApiError::new(ErrorCode::SeatSold)
        .message("A seat in this order has already been sold. The payment has been refunded.")
        .details(serde_json::json!({ "seats": seats }))
}

fn payment_error(err: PaymentError) -> ApiError {
    match err {
        PaymentError::Declined(reason) => {
            ApiError::new(ErrorCode::PaymentDeclined).details(serde_json::json!({ "reason": reason }))
        }
        PaymentError::InvalidCard => ApiError::invalid("card_number", "(redacted)", "not a valid card number"),
        PaymentError::Unavailable(_) => ApiError::unavailable(err).retry_after(5),
    }
}

/// Gives back a charge whose order will not be written, and records it.
struct Refund<'a> {
    state: &'a AppState,
    payment_ref: &'a str,
    event: EventId,
    hold: HoldId,
    amount_cents: i64,
}

impl Refund<'_> {
    async fn issue(&self, reason: &str) {
        if let Err(err) = self.state.payments.refund(self.payment_ref).await {
            // NOTE: a refund that fails here is logged for the payments team; no automatic retry yet.
            tracing::error!(event.id = %self.event, hold.id = %self.hold, cause = %err, reason, "refund failed");
        }
        let recorded =
            self.state.db.record_refund(self.payment_ref, self.event, self.hold, self.amount_cents, reason).await;
        if let Err(err) = recorded {
            tracing::error!(event.id = %self.event, hold.id = %self.hold, cause = %err, reason, "recording a refund failed");
        }
        tracing::info!(event.id = %self.event, hold.id = %self.hold, reason, "payment refunded");
    }
}

/// An order of the calling fan.
async fn order(
    State(state): State<AppState>,
    Caller(fan): Caller,
    OrderPath(order): OrderPath,
) -> ApiResult<axum::Json<OrderView>> {
    state
        .db
        .order_view(order, &fan)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::new(ErrorCode::OrderNotFound).details(serde_json::json!({ "order_id": order })))
}
