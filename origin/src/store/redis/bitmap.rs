//! Availability bitmaps: apply versioned changes, rebuild from the hold store, read.

use async_trait::async_trait;

use onsale_shared::{EventId, SeatIndex};

use super::RedisStore;
use super::scripts::{APPLY_CHANGES, REBUILD_RANGE};
use crate::store::{AvailabilityStore, SeatStateChange, StoreError, StoreResult};

/// Seats per rebuild script call: small enough that one call blocks its Redis node for well
/// under a millisecond.
const REBUILD_CHUNK: u32 = 500;

#[async_trait]
impl AvailabilityStore for RedisStore {
    /// The raw bitmap string, or `None` when no change has been applied yet (every seat free).
    async fn bitmap(&self, event: EventId) -> StoreResult<Option<Vec<u8>>> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        Ok(redis::cmd("GET").arg(keys.bitmap()).query_async(&mut conn).await?)
    }

    /// Applies changes whose version is newer than the last one applied to their seat.
    /// Returns how many were applied.
    async fn apply_changes(&self, event: EventId, changes: &[SeatStateChange]) -> StoreResult<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let mut applied = 0;
        for chunk in changes.chunks(1000) {
            let mut invocation = APPLY_CHANGES.prepare_invoke();
            invocation.key(keys.bitmap()).key(keys.bitmap_versions());
            for change in chunk {
                invocation.arg(change.seat.get()).arg(change.version).arg(u8::from(change.unavailable));
            }
            let count: u64 = invocation.invoke_async(&mut conn).await?;
            applied += count;
        }
        Ok(applied)
    }

    /// Rebuilds the whole bitmap from the seat keys, chunk by chunk. Each chunk reads states and
    /// versions atomically, so a change published before the rebuild and delivered after it is
    /// recognised as old and skipped. Returns how many bits changed.
    async fn rebuild_bitmap(&self, event: EventId, seat_count: u32) -> StoreResult<u64> {
        let keys = self.keys(event);
        let mut conn = self.conn.clone();
        let mut changed = 0;
        let mut start = 0;
        while start < seat_count {
            let end = (start + REBUILD_CHUNK).min(seat_count);
            let mut invocation = REBUILD_RANGE.prepare_invoke();
            invocation.key(keys.bitmap()).key(keys.bitmap_versions()).key(keys.seat_versions());
            for index in start..end {
                let seat = SeatIndex::new(index).map_err(|err| StoreError::Internal(err.to_string()))?;
                invocation.key(keys.seat(seat)).arg(index);
            }
            let count: u64 = invocation.invoke_async(&mut conn).await?;
            changed += count;
            start = end;
        }
        Ok(changed)
    }

    /// Flags an event's bitmap for a rebuild, after a seat change could not be published.
    async fn mark_bitmap_dirty(&self, event: EventId) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("SADD").arg(self.dirty_bitmaps_key()).arg(event.get()).query_async(&mut conn).await?)
    }

    /// Takes up to `count` flagged events off the dirty set.
    async fn take_dirty_bitmaps(&self, count: usize) -> StoreResult<Vec<EventId>> {
        let mut conn = self.conn.clone();
        let ids: Vec<i64> = redis::cmd("SPOP").arg(self.dirty_bitmaps_key()).arg(count).query_async(&mut conn).await?;
        Ok(ids.into_iter().filter_map(|id| EventId::new(id).ok()).collect())
    }
}
