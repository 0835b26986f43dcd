//! The in-process backend of the store traits: seat holds, waiting-room queues and
//! availability bitmaps in this process's memory. It keeps nothing across a restart.
//!
//! It mirrors the Redis backend call for call, and the contract tests
//! (`origin/tests/contract/store.rs`) run against both. Each Redis call is one Lua script, which
//! runs atomically. Here each trait call does all of its work under its event's lock, which
//! gives the same atomicity. Values that Redis stores with a TTL carry an expiry time on the
//! wall clock (where Redis reads its server `TIME`) and read as absent once it has passed.
//! Expired entries are purged whenever their event is touched, so memory stays bounded over a
//! long sale without a background task.
//!
//! Layout, by concern like the Redis backend:
//!
//! - `holds.rs`: seat keys, seat versions, hold records, the expiry index, nonce bindings and
//!   hold counters; hold, release, expire, claim for sale and mark sold.
//! - `queue.rs`: the queue, prequeue, admission tokens, queue counters and the admitter lease.
//! - `bitmap.rs`: the availability bitmap and the version applied to each bit.
//! - `expiring.rs`: a map whose entries expire like Redis keys with a TTL.

mod bitmap;
mod expiring;
mod holds;
mod queue;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use onsale_shared::EventId;

use super::{Store, StoreError, StoreResult};

/// Extra life of a hold record after its seats expire, so a payment that completes late can
/// still find which seats it was for. The same as the Redis backend's.
const HOLD_RECORD_GRACE: Duration = Duration::from_secs(3600);

/// The hold store, queues and bitmaps of every event, in this process.
pub struct MemoryStore {
    /// Each event's state behind a lock of its own. The outer lock is held only to find or add
    /// an event, so calls on different events do not wait on each other.
    events: Mutex<HashMap<EventId, Arc<Mutex<EventState>>>>,
    /// The sets that span events, which Redis keeps under the namespace.
    global: Mutex<GlobalSets>,
}

/// Everything one event keeps, the counterpart of the keys under one Redis hash tag.
#[derive(Default)]
struct EventState {
    holds: holds::HoldState,
    queue: queue::QueueData,
    bitmap: bitmap::BitmapState,
}

impl EventState {
    /// Frees the memory of entries whose TTL has passed. They already read as absent.
    fn purge(&mut self, now: Now) {
        self.holds.purge(now.ms);
        self.queue.purge(now.ms);
    }
}

#[derive(Default)]
struct GlobalSets {
    /// Events with a live sale (`<namespace>:events` in Redis).
    active: BTreeSet<EventId>,
    /// Events whose bitmap must be rebuilt (`<namespace>:dirty-bitmaps` in Redis).
    dirty_bitmaps: BTreeSet<EventId>,
}

/// The wall-clock time of one call, read once under the event's lock, as a Lua script reads
/// `TIME` once.
#[derive(Debug, Clone, Copy)]
struct Now {
    /// Milliseconds since the Unix epoch: hold expiry times and TTLs.
    ms: i64,
    /// Microseconds since the Unix epoch: queue join times.
    us: i64,
}

impl Now {
    fn read() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let us = i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX);
        Self { ms: us / 1000, us }
    }

    /// Returns the time `ttl_ms` milliseconds after this one, as Redis computes a `PX` expiry.
    fn ms_after(self, ttl_ms: i64) -> i64 {
        self.ms.saturating_add(ttl_ms)
    }
}

/// Converts a duration to whole milliseconds, truncating as the Redis backend does.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Converts the TTL of a value that must expire to milliseconds. Redis rejects `SET ... PX 0`
/// with an error, and so does this backend, at the same step of the same call.
/// A TTL in milliseconds, at least 1, as the Redis backend rounds it.
fn expiring_ttl_ms(ttl: Duration, _what: &str) -> StoreResult<i64> {
    Ok(millis(ttl).max(1))
}

fn poisoned(event: Option<EventId>) -> StoreError {
    match event {
        Some(event) => StoreError::Internal(format!(
            "memory store state of event {event} is unusable: a call panicked while holding its lock"
        )),
        None => StoreError::Internal(
            "memory store event sets are unusable: a call panicked while holding their lock".into(),
        ),
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self { events: Mutex::new(HashMap::new()), global: Mutex::new(GlobalSets::default()) }
    }

    /// Runs `work` on an event's state under its lock, adding the state if the event has none.
    /// For calls that write.
    fn with_event<R>(
        &self,
        event: EventId,
        work: impl FnOnce(&mut EventState, Now) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let state = {
            let mut events = self.events.lock().map_err(|_| poisoned(None))?;
            Arc::clone(events.entry(event).or_default())
        };
        Self::run_locked(event, &state, work)
    }

    /// Runs `work` on an event's state under its lock, or on empty state if the event has none,
    /// so reads of unknown events add nothing.
    fn read_event<R>(
        &self,
        event: EventId,
        work: impl FnOnce(&mut EventState, Now) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let state = {
            let events = self.events.lock().map_err(|_| poisoned(None))?;
            events.get(&event).cloned()
        };
        match state {
            Some(state) => Self::run_locked(event, &state, work),
            None => work(&mut EventState::default(), Now::read()),
        }
    }

    fn run_locked<R>(
        event: EventId,
        state: &Mutex<EventState>,
        work: impl FnOnce(&mut EventState, Now) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let mut state = state.lock().map_err(|_| poisoned(Some(event)))?;
        // The clock is read under the lock, so calls that run later never read an earlier time.
        let now = Now::read();
        state.purge(now);
        work(&mut state, now)
    }

    fn global(&self) -> StoreResult<MutexGuard<'_, GlobalSets>> {
        self.global.lock().map_err(|_| poisoned(None))
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.global().map(|_| ())
    }

    async fn activate_event(&self, event: EventId) -> StoreResult<()> {
        self.global()?.active.insert(event);
        Ok(())
    }

    async fn active_events(&self) -> StoreResult<Vec<EventId>> {
        Ok(self.global()?.active.iter().copied().collect())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
