//! The hold store (SeatHoldCache), the waiting-room queues and the availability bitmaps
//! (AvailabilityCache), behind three traits with two backends each:
//!
//! - [`redis`]: Redis Cluster (or one Redis node), every operation one Lua script, for
//!   production. Selected by a `redis://` URL.
//! - [`memory`]: in this process, every operation under one lock per event, for trying onsale
//!   out, development and single-box events. Selected by `memory://`. It keeps nothing across a
//!   restart.
//!
//! Both backends pass the same contract tests (`origin/tests/contract/`): holds are all or
//! nothing under concurrency, a nonce backs one live hold, expired holds are found by
//! [`HoldStore::due_holds`], and a change never flips a bitmap bit backwards.

pub mod memory;
pub mod model;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

use onsale_shared::api::QueueState;
use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex};

pub use model::*;

pub use redis::{EventKeys, RedisConnection, RedisStore};

/// A failure of the store itself, never of the request.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is down, slow or failing over; the same call may succeed later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store returned something this code cannot read.
    #[error("store error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Seat holds and sales.
#[async_trait]
pub trait HoldStore: Send + Sync {
    /// Holds all of `attempt.seats` or none. The nonce is checked and bound to the hold in the
    /// same atomic step that takes the seats.
    async fn hold(&self, attempt: &HoldAttempt<'_>) -> StoreResult<HoldOutcome>;

    /// A hold's record, while it exists: for the hold's TTL plus a grace period for late payments.
    async fn hold_record(&self, event: EventId, hold: HoldId) -> StoreResult<Option<HoldRecord>>;

    /// Frees a hold's seats and its nonce, if `fan` made the hold.
    async fn release(&self, event: EventId, record: &HoldRecord, fan: &FanId) -> StoreResult<ReleaseOutcome>;

    /// Frees the seats of a hold whose TTL has passed. Seats another hold took since stay taken.
    async fn expire(&self, event: EventId, record: &HoldRecord) -> StoreResult<ExpireOutcome>;

    /// Removes a hold from the expiry index without touching seats.
    async fn forget_hold(&self, event: EventId, hold: HoldId) -> StoreResult<()>;

    /// Holds whose TTL has passed, oldest first, at most `limit`.
    async fn due_holds(&self, event: EventId, limit: usize) -> StoreResult<Vec<HoldId>>;

    /// Makes sure every seat of a hold is still, or again, held by it before its order is
    /// written. All or nothing. `ttl` covers the time the order write may take.
    async fn claim_for_sale(&self, event: EventId, record: &HoldRecord, ttl: Duration) -> StoreResult<ClaimOutcome>;

    /// Marks a committed order's seats sold and spends the admission nonce until `nonce_ttl`.
    async fn mark_sold(
        &self,
        event: EventId,
        record: &HoldRecord,
        order: OrderId,
        nonce_ttl: Duration,
    ) -> StoreResult<Vec<SeatVersion>>;

    /// Marks seats sold to the given orders where the store does not show it yet.
    async fn repair_sold(&self, event: EventId, sold: &[(SeatIndex, OrderId)]) -> StoreResult<Vec<SeatVersion>>;

    /// Hold and sale counters of an event.
    async fn hold_stats(&self, event: EventId) -> StoreResult<HoldStats>;

    /// The state of each given seat, in the same order.
    async fn seat_states(&self, event: EventId, seats: &[SeatIndex]) -> StoreResult<Vec<SeatState>>;
}

/// Waiting-room queues.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Joins the queue once per fan; a second join returns the first place.
    async fn join(&self, event: EventId, fan: &FanId, default_state: QueueState) -> StoreResult<JoinOutcome>;

    /// Reads a fan's place without joining.
    async fn queue_status(&self, event: EventId, fan: &FanId, default_state: QueueState) -> StoreResult<StatusOutcome>;

    /// Reads a queue's state and counters.
    async fn queue_meta(&self, event: EventId, default_state: QueueState) -> StoreResult<QueueMeta>;

    /// Lists the next `count` fans in line, without removing them.
    async fn peek_queue(&self, event: EventId, count: usize) -> StoreResult<Vec<FanId>>;

    /// Takes or renews the admitter lease; `true` while `owner` holds it.
    async fn acquire_lease(&self, event: EventId, owner: &str, ttl: Duration) -> StoreResult<bool>;

    /// Stores tokens for a batch of fans and removes them from the queue, in one atomic step,
    /// while `owner` holds the lease and the queue is open. Fans no longer queued are skipped.
    async fn admit(
        &self,
        event: EventId,
        owner: &str,
        batch: &[(FanId, StoredAdmission)],
        token_ttl: Duration,
    ) -> StoreResult<AdmitOutcome>;

    /// Records the admission rate the admitter measured, for ETAs.
    async fn record_admission_rate(&self, event: EventId, rate: f64) -> StoreResult<()>;

    /// Sets the queue's state (pause, resume, close).
    async fn set_queue_state(&self, event: EventId, state: QueueState) -> StoreResult<()>;

    /// Sets the queue's admission rate in fans per second.
    async fn set_queue_rate(&self, event: EventId, rate: u32) -> StoreResult<()>;

    /// Opens the queue and places fans who joined before the open in random order ahead of
    /// everyone who joins after it. Returns how many were placed.
    async fn open_queue(&self, event: EventId) -> StoreResult<u64>;
}

/// Availability bitmaps.
#[async_trait]
pub trait AvailabilityStore: Send + Sync {
    /// Reads the raw bitmap; `None` when no change has been applied yet (every seat free).
    async fn bitmap(&self, event: EventId) -> StoreResult<Option<Vec<u8>>>;

    /// Applies changes whose version is newer than the last one applied to their seat.
    /// Returns how many were applied.
    async fn apply_changes(&self, event: EventId, changes: &[SeatStateChange]) -> StoreResult<u64>;

    /// Rebuilds the bitmap from the hold store, reading each seat's state and version in one
    /// atomic step. Returns how many bits changed.
    async fn rebuild_bitmap(&self, event: EventId, seat_count: u32) -> StoreResult<u64>;

    /// Flags an event's bitmap for a rebuild, after a seat change could not be published.
    async fn mark_bitmap_dirty(&self, event: EventId) -> StoreResult<()>;

    /// Takes up to `count` flagged events off the dirty set.
    async fn take_dirty_bitmaps(&self, count: usize) -> StoreResult<Vec<EventId>>;
}

/// Everything the platform keeps in the hold store, plus the set of live events.
#[async_trait]
pub trait Store: HoldStore + QueueStore + AvailabilityStore {
    /// Checks that the store answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Adds an event to the set of events with a live sale.
    async fn activate_event(&self, event: EventId) -> StoreResult<()>;

    /// Lists the events with a live sale.
    async fn active_events(&self) -> StoreResult<Vec<EventId>>;

    /// The backend's name, for logs: `redis` or `memory`.
    fn backend(&self) -> &'static str;
}

/// A shared handle to whichever store the configuration selected.
pub type SharedStore = std::sync::Arc<dyn Store>;

/// Opens the store the configuration names: `memory://` for the store in this process,
/// anything else as Redis node URLs.
pub async fn open(config: &crate::config::RedisConfig) -> anyhow::Result<SharedStore> {
    if config.is_memory() {
        Ok(std::sync::Arc::new(memory::MemoryStore::new()))
    } else {
        Ok(std::sync::Arc::new(RedisStore::connect(config).await?))
    }
}
