//! Request and response bodies of the HTTP and WebSocket API, as JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, FanId, HoldId, OrderId, SeatIndex, TicketId};

/// Path prefix of every API route.
pub const API_PREFIX: &str = "/api/v1";
/// Header that carries the fan session (`POST /api/v1/fans` returns it). Browsers that cannot set
/// headers, such as a WebSocket handshake, send it as the `session` query parameter instead.
pub const FAN_SESSION_HEADER: &str = "x-onsale-fan";
/// Response header on the availability bitmap: the number of seats it covers.
pub const SEAT_COUNT_HEADER: &str = "x-onsale-seat-count";

/// An event as the browse pages list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub id: EventId,
    pub name: String,
    pub starts_at: DateTime<Utc>,
    /// The event's local date, as printed on tickets.
    pub local_date: chrono::NaiveDate,
    pub venue: String,
    pub city: String,
    pub region: String,
    pub country: String,
    pub seat_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventList {
    pub events: Vec<EventSummary>,
}

/// One price category of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceCategory {
    /// The seating plan's category name, which seats refer to.
    pub key: String,
    pub name: String,
    pub color: Option<String>,
    pub price_cents: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub summary: EventSummary,
    pub categories: Vec<PriceCategory>,
    pub max_seats_per_order: u32,
}

/// Seat geometry of one event: zones, rows and seats as drawn on the map. Seats of a row have
/// consecutive indexes starting at `first_seat`, so the index of the k-th seat is `first_seat + k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeatMap {
    pub event_id: EventId,
    pub plan_name: String,
    pub width: f64,
    pub height: f64,
    pub seat_count: u32,
    /// Categories in the order that [`MapSeat::category`] indexes; unpriced ones are not for sale.
    pub categories: Vec<MapCategory>,
    pub zones: Vec<MapZone>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapCategory {
    pub key: String,
    pub color: Option<String>,
    pub price_cents: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapZone {
    pub name: String,
    pub rows: Vec<MapRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapRow {
    pub number: String,
    pub first_seat: u32,
    pub seats: Vec<MapSeat>,
}

/// One seat, sent as a JSON array `[number, x, y, category]` to keep a stadium map small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapSeat(pub String, pub f32, pub f32, pub u16);

impl MapSeat {
    pub fn number(&self) -> &str {
        &self.0
    }
    pub fn x(&self) -> f32 {
        self.1
    }
    pub fn y(&self) -> f32 {
        self.2
    }
    pub fn category(&self) -> u16 {
        self.3
    }
}

/// A fan session, from `POST /api/v1/fans`. Send `session` in the `x-onsale-fan` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanSession {
    pub fan_id: FanId,
    pub session: String,
}

/// Where a fan stands in an event's waiting room. Join, status and every WebSocket message
/// carry one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum QueueStatus {
    /// Waiting. `position` is 1 for the next fan to be admitted.
    Queued {
        position: u64,
        /// Fans ahead of this one: `position - 1`.
        ahead: u64,
        /// Estimated wait from the measured admission rate; `None` until a rate is measured.
        eta_seconds: Option<u64>,
        /// Admissions per second over the last few seconds.
        admission_rate: f64,
        /// Whether the operator paused admission (places are kept).
        paused: bool,
    },
    /// Admitted: the token authorizes seat requests until `expires_at`.
    Admitted { token: String, expires_at: DateTime<Utc> },
    /// Joined before the queue opened. At the open, everyone who joined early gets a random
    /// place ahead of later arrivals, so arriving early, or many times over, buys no advantage.
    Prequeue,
    /// The queue has not opened yet and this fan has not joined.
    NotOpen,
    /// The fan is not in the queue: never joined, or was admitted and the admission expired.
    NotQueued,
    /// The event sold out and the queue closed.
    SoldOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRequest {
    pub seats: Vec<SeatIndex>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldResponse {
    pub hold_id: HoldId,
    pub event_id: EventId,
    pub seats: Vec<SeatIndex>,
    pub expires_at: DateTime<Utc>,
    pub total_cents: i64,
    pub currency: String,
}

/// Checkout: the buyer's email for ticket delivery and a card for the payment provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmRequest {
    pub email: String,
    pub card_number: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub order_id: OrderId,
    pub event_id: EventId,
    pub hold_id: HoldId,
    pub total_cents: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub tickets: Vec<TicketView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketView {
    pub ticket_id: TicketId,
    pub seat: SeatIndex,
    pub zone: String,
    pub row: String,
    pub number: String,
    pub category: String,
    pub price_cents: i64,
    /// The signed secret inside the QR code; `None` until the ticket worker has signed it,
    /// usually within a second of the order.
    pub secret: Option<String>,
    pub emailed: bool,
}

/// Operator request on an event's queue (`POST /api/v1/admin/events/{id}/queue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueControl {
    pub action: QueueAction,
    /// New admission rate in fans per second; unchanged when absent.
    #[serde(default)]
    pub rate_per_second: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueAction {
    Open,
    Pause,
    Resume,
    /// Close the queue: everyone still waiting is told the event sold out.
    Close,
    /// Change only the rate.
    SetRate,
}

/// Queue state an operator sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    NotOpen,
    Open,
    Paused,
    Closed,
}

/// Operator view of one event's sale (`GET /api/v1/admin/events/{id}/stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventStats {
    pub event_id: EventId,
    pub queue_state: QueueState,
    pub rate_per_second: u32,
    pub waiting: u64,
    pub admitted: u64,
    pub holds_started: u64,
    pub holds_expired: u64,
    pub seats_unavailable_in_bitmap: u32,
    pub orders: u64,
    pub seats_sold: u64,
    pub tickets_emailed: u64,
    /// Seats with more than one sale in the order database. Always 0 unless the UNIQUE guard is gone.
    pub seats_sold_twice: u64,
    /// Seats sold in the order database that the hold store shows as free, so that another fan
    /// could hold them. Always 0 unless a sale was lost from the hold store.
    pub sold_not_marked: u64,
    /// Seats sold in the order database that the hold store still shows as held, because
    /// marking them sold failed or is under way. The expiry worker marks them sold when the
    /// hold's claim runs out, and no other fan can hold them meanwhile.
    #[serde(default)]
    pub sold_marking_pending: u64,
}

/// The counters of one event's queue and sale, cheap enough to read several times a second
/// (`GET /api/v1/admin/events/{id}/queue`). [`EventStats`] adds the oversell checks, which read
/// every sold seat.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QueueFigures {
    pub event_id: EventId,
    pub queue_state: QueueState,
    pub rate_per_second: u32,
    pub waiting: u64,
    pub admitted: u64,
    pub holds_expired: u64,
    pub seats_unavailable_in_bitmap: u32,
    pub orders: u64,
    pub seats_sold: u64,
    pub tickets_emailed: u64,
}

/// How long an event's tickets took to reach the fans' inboxes
/// (`GET /api/v1/admin/events/{id}/deliveries`): from the order's commit to the ticket's email,
/// over every emailed ticket of the event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TicketDeliveries {
    pub event_id: EventId,
    pub emailed: u64,
    /// Tickets of committed orders whose email is not written yet.
    pub waiting: u64,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_status_is_tagged() {
        let json = serde_json::to_value(QueueStatus::NotOpen).unwrap();
        assert_eq!(json, serde_json::json!({"state": "not_open"}));
        let queued =
            QueueStatus::Queued { position: 3, ahead: 2, eta_seconds: Some(1), admission_rate: 5000.0, paused: false };
        let back: QueueStatus = serde_json::from_value(serde_json::to_value(&queued).unwrap()).unwrap();
        assert_eq!(back, queued);
    }

    #[test]
    fn map_seat_is_an_array() {
        let seat = MapSeat("12".into(), 1.5, 2.0, 3);
        assert_eq!(serde_json::to_string(&seat).unwrap(), r#"["12",1.5,2.0,3]"#);
    }

    #[test]
    fn hold_request_rejects_bad_seat() {
        assert!(serde_json::from_str::<HoldRequest>(r#"{"seats":[1,2]}"#).is_ok());
        assert!(serde_json::from_str::<HoldRequest>(r#"{"seats":[-1]}"#).is_err());
    }
}
