//! Availability bitmaps: apply versioned changes, rebuild from the hold state, read, and the
//! set of bitmaps to rebuild.

use async_trait::async_trait;

use onsale_shared::{EventId, SeatIndex};

use super::MemoryStore;
use super::holds::{HoldState, SeatVersions};
use crate::store::{AvailabilityStore, SeatStateChange, StoreError, StoreResult};

/// The bitmap of one event and the version of the last change applied to each bit.
#[derive(Default)]
pub(super) struct BitmapState {
    /// Bytes laid out as Redis `SETBIT` lays them out (bit i in byte i / 8, most significant bit
    /// first), grown only as far as the highest bit written. `None` until a bit is written.
    bits: Option<Vec<u8>>,
    applied: SeatVersions,
}

impl BitmapState {
    /// Sets one bit and returns its previous value, as `SETBIT` does.
    fn set_bit(&mut self, seat: SeatIndex, unavailable: bool) -> bool {
        let bytes = self.bits.get_or_insert_with(Vec::new);
        let index = seat.as_usize();
        if index / 8 >= bytes.len() {
            bytes.resize(index / 8 + 1, 0);
        }
        let mask = 0x80u8 >> (index % 8);
        let previous = bytes[index / 8] & mask != 0;
        if unavailable {
            bytes[index / 8] |= mask;
        } else {
            bytes[index / 8] &= !mask;
        }
        previous
    }

    fn apply(&mut self, changes: &[SeatStateChange]) -> u64 {
        let mut applied = 0;
        for change in changes {
            if change.version > self.applied.get(change.seat) {
                self.applied.set(change.seat, change.version);
                self.set_bit(change.seat, change.unavailable);
                applied += 1;
            }
        }
        applied
    }

    /// Sets each seat's bit from its seat key and its applied version from its state version.
    fn rebuild(&mut self, holds: &HoldState, seat_count: u32, now_ms: i64) -> StoreResult<u64> {
        let mut changed = 0;
        for index in 0..seat_count {
            let seat = SeatIndex::new(index).map_err(|err| StoreError::Internal(err.to_string()))?;
            let unavailable = holds.seats.contains(&seat, now_ms);
            if self.set_bit(seat, unavailable) != unavailable {
                changed += 1;
            }
            self.applied.set(seat, holds.versions.get(seat));
        }
        Ok(changed)
    }
}

#[async_trait]
impl AvailabilityStore for MemoryStore {
    async fn bitmap(&self, event: EventId) -> StoreResult<Option<Vec<u8>>> {
        self.read_event(event, |state, _| Ok(state.bitmap.bits.clone()))
    }

    async fn apply_changes(&self, event: EventId, changes: &[SeatStateChange]) -> StoreResult<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        self.with_event(event, |state, _| Ok(state.bitmap.apply(changes)))
    }

    /// Rebuilds the whole bitmap under one lock. The Redis backend works in chunks of seats,
    /// each atomic on its own, so one atomic step over all seats is the stronger guarantee.
    async fn rebuild_bitmap(&self, event: EventId, seat_count: u32) -> StoreResult<u64> {
        self.with_event(event, |state, now| state.bitmap.rebuild(&state.holds, seat_count, now.ms))
    }

    async fn mark_bitmap_dirty(&self, event: EventId) -> StoreResult<()> {
        self.global()?.dirty_bitmaps.insert(event);
        Ok(())
    }

    /// Takes the flagged events with the lowest ids first, where Redis `SPOP` takes random ones.
    async fn take_dirty_bitmaps(&self, count: usize) -> StoreResult<Vec<EventId>> {
        let mut global = self.global()?;
        let taken: Vec<EventId> = global.dirty_bitmaps.iter().take(count).copied().collect();
        for event in &taken {
            global.dirty_bitmaps.remove(event);
        }
        Ok(taken)
    }
}
