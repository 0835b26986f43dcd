//! The values the store traits take and return. Every backend returns exactly these, so the
//! contract tests compare them directly.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use onsale_shared::api::QueueState;
use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex};

/// A seat and its state version after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatVersion {
    pub seat: SeatIndex,
    pub version: u32,
}

/// One seat's new state and the version that the change gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatStateChange {
    pub seat: SeatIndex,
    pub version: u32,
    /// Held or sold (`true`), or free (`false`).
    pub unavailable: bool,
}

/// A request to hold seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldAttempt<'a> {
    pub event: EventId,
    pub hold: HoldId,
    pub fan: &'a FanId,
    pub nonce: &'a str,
    pub seats: &'a [SeatIndex],
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    Held {
        expires_at_ms: i64,
        versions: Vec<SeatVersion>,
    },
    /// The nonce already backs a live hold or an order.
    NonceUsed,
    /// These seats are held or sold; nothing was held.
    Unavailable(Vec<SeatIndex>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Released(Vec<SeatVersion>),
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Every seat is held by this hold; `retaken` lists seats that had been freed and were taken again.
    Claimed { retaken: Vec<SeatVersion> },
    /// The nonce now backs another hold or an order.
    NonceRebound,
    /// These seats went to someone else.
    Conflict(Vec<SeatIndex>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpireOutcome {
    Gone,
    NotDue,
    Expired(Vec<SeatVersion>),
}

/// The hold store's record of a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    pub hold: HoldId,
    pub fan: FanId,
    pub nonce: String,
    pub seats: Vec<SeatIndex>,
    pub expires_at_ms: i64,
    /// The expiry worker freed the seats (the record stays for a late payment).
    pub expired: bool,
}

/// A seat's state in the hold store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatState {
    Free,
    Held(HoldId),
    Sold(OrderId),
}

/// Hold and sale counters of one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldStats {
    pub holds_started: u64,
    pub holds_released: u64,
    pub holds_expired: u64,
    pub seats_sold: u64,
}

/// An admission token as the waiting room stores it for the fan to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAdmission {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// In the queue; `rank` counts from 0.
    Queued {
        rank: u64,
        paused: bool,
    },
    Admitted(StoredAdmission),
    /// Joined before the open; a random place is drawn at the open.
    Prequeue,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    Queued {
        rank: u64,
        paused: bool,
    },
    Admitted(StoredAdmission),
    Prequeue,
    /// The fan is not in this queue (never joined, or the admission expired).
    NotQueued(QueueState),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmitOutcome {
    /// Another admitter holds the lease now.
    LeaseLost,
    /// The queue is not open (paused, closed or not yet open).
    Idle,
    Admitted(u64),
}

/// A queue's state and counters.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMeta {
    pub state: QueueState,
    /// Operator-set rate, or `None` for the configured default.
    pub rate: Option<u32>,
    pub joined: u64,
    pub admitted: u64,
    pub waiting: u64,
    pub prequeued: u64,
    /// Admissions per second measured by the admitter; 0 before the first batch.
    pub measured_rate: f64,
}

pub fn state_name(state: QueueState) -> &'static str {
    match state {
        QueueState::NotOpen => "not_open",
        QueueState::Open => "open",
        QueueState::Paused => "paused",
        QueueState::Closed => "closed",
    }
}

pub fn parse_state(name: &str) -> Option<QueueState> {
    match name {
        "not_open" => Some(QueueState::NotOpen),
        "open" => Some(QueueState::Open),
        "paused" => Some(QueueState::Paused),
        "closed" => Some(QueueState::Closed),
        _ => None,
    }
}
