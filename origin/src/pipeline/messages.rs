//! Messages on the two topics. Both are JSON and keyed by the event id in decimal, so one
//! event's messages stay in one partition, in order.

use serde::{Deserialize, Serialize};

use onsale_shared::{EventId, OrderId, SeatIndex, TicketId};

use crate::store::{SeatStateChange, SeatVersion};

/// What caused a seat state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCause {
    Hold,
    Release,
    Expiry,
    /// A late payment took back seats its expired hold had lost.
    Retake,
    Sale,
}

impl ChangeCause {
    /// Whether seats are unavailable after a change of this cause.
    pub fn makes_unavailable(self) -> bool {
        matches!(self, ChangeCause::Hold | ChangeCause::Retake | ChangeCause::Sale)
    }
}

/// One state change of one or more seats of an event, on the seat-change topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatChangeMessage {
    pub event_id: EventId,
    pub cause: ChangeCause,
    pub changes: Vec<SeatStateChange>,
    /// When the change happened, in Unix milliseconds (origin clock), for staleness metrics.
    pub at_ms: i64,
}

impl SeatChangeMessage {
    pub fn new(event_id: EventId, cause: ChangeCause, versions: &[SeatVersion]) -> Self {
        let unavailable = cause.makes_unavailable();
        Self {
            event_id,
            cause,
            changes: versions
                .iter()
                .map(|v| SeatStateChange { seat: v.seat, version: v.version, unavailable })
                .collect(),
            at_ms: chrono::Utc::now().timestamp_millis(),
        }
    }
}

/// One confirmed seat on the TicketStream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMessage {
    pub ticket_id: TicketId,
    pub order_id: OrderId,
    pub event_id: EventId,
    pub seat: SeatIndex,
}

/// The message key of an event: its id in decimal.
pub fn event_key(event: EventId) -> String {
    event.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_change_json_round_trip() {
        let event = EventId::new(5).unwrap();
        let versions = [SeatVersion { seat: SeatIndex::new(3).unwrap(), version: 9 }];
        let message = SeatChangeMessage::new(event, ChangeCause::Release, &versions);
        assert!(!message.changes[0].unavailable);
        let json = serde_json::to_string(&message).unwrap();
        assert!(json.contains("\"cause\":\"release\""));
        assert_eq!(serde_json::from_str::<SeatChangeMessage>(&json).unwrap(), message);
    }
}
