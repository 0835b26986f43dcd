//! Seat holds: hold, release, expire, claim for sale and mark sold, each the counterpart of one
//! Lua script in `store/redis/scripts.rs` and run under the event's lock.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;

use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex};

use super::expiring::ExpiringMap;
use super::{HOLD_RECORD_GRACE, MemoryStore, Now, expiring_ttl_ms, millis};
use crate::store::{
    ClaimOutcome, ExpireOutcome, HoldAttempt, HoldOutcome, HoldRecord, HoldStats, HoldStore, ReleaseOutcome, SeatState,
    SeatVersion, StoreResult,
};

/// The value of a seat key or a nonce binding: `h:<hold id>` or `s:<order id>` in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Binding {
    Hold(HoldId),
    Order(OrderId),
}

/// A hold record, the counterpart of the `hold:<hold id>` hash.
struct StoredHold {
    fan: FanId,
    nonce: String,
    seats: Vec<SeatIndex>,
    expires_at_ms: i64,
    /// The expiry worker freed the seats.
    expired: bool,
}

/// One u32 per seat, wrapping on overflow like `BITFIELD ... OVERFLOW WRAP`. A seat never
/// written reads as 0.
#[derive(Default)]
pub(super) struct SeatVersions(Vec<u32>);

impl SeatVersions {
    pub fn get(&self, seat: SeatIndex) -> u32 {
        self.0.get(seat.as_usize()).copied().unwrap_or(0)
    }

    pub fn set(&mut self, seat: SeatIndex, version: u32) {
        let index = seat.as_usize();
        if index >= self.0.len() {
            self.0.resize(index + 1, 0);
        }
        self.0[index] = version;
    }

    /// Increments a seat's version and returns the new one.
    pub fn bump(&mut self, seat: SeatIndex) -> u32 {
        let version = self.get(seat).wrapping_add(1);
        self.set(seat, version);
        version
    }
}

/// Hold ids by expiry time, the counterpart of the `holds` sorted set. Ties are ordered by
/// hold id, as a sorted set orders equal scores by member.
#[derive(Default)]
struct ExpiryIndex {
    by_time: BTreeSet<(i64, HoldId)>,
    times: HashMap<HoldId, i64>,
}

impl ExpiryIndex {
    fn time(&self, hold: HoldId) -> Option<i64> {
        self.times.get(&hold).copied()
    }

    /// Adds a hold or moves it to a new expiry time, as `ZADD` does.
    fn insert(&mut self, hold: HoldId, expires_at_ms: i64) {
        if let Some(old) = self.times.insert(hold, expires_at_ms) {
            self.by_time.remove(&(old, hold));
        }
        self.by_time.insert((expires_at_ms, hold));
    }

    fn remove(&mut self, hold: HoldId) {
        if let Some(old) = self.times.remove(&hold) {
            self.by_time.remove(&(old, hold));
        }
    }

    /// Lists the holds whose expiry time is at or before `now_ms`, earliest first.
    fn due(&self, now_ms: i64, limit: usize) -> Vec<HoldId> {
        self.by_time.iter().take_while(|(at, _)| *at <= now_ms).take(limit).map(|(_, hold)| *hold).collect()
    }
}

/// The hold state of one event.
#[derive(Default)]
pub(super) struct HoldState {
    /// Seat keys: present while held (with the hold's TTL) or sold (without TTL).
    pub seats: ExpiringMap<SeatIndex, Binding>,
    /// Seat state versions, bumped by every hold, release, expiry, retake and sale.
    pub versions: SeatVersions,
    /// Hold records, which live for the hold's TTL plus [`HOLD_RECORD_GRACE`].
    records: ExpiringMap<HoldId, StoredHold>,
    by_expiry: ExpiryIndex,
    /// Admission nonces bound to a live hold or an order.
    nonces: ExpiringMap<String, Binding>,
    stats: HoldStats,
}

impl HoldState {
    pub fn purge(&mut self, now_ms: i64) {
        self.seats.purge(now_ms);
        self.records.purge(now_ms);
        self.nonces.purge(now_ms);
    }

    fn seat_version(&mut self, seat: SeatIndex) -> SeatVersion {
        SeatVersion { seat, version: self.versions.bump(seat) }
    }

    /// Removes the nonce binding if it still points at `hold`.
    fn unbind_nonce(&mut self, nonce: &str, hold: HoldId, now_ms: i64) {
        if self.nonces.get(nonce, now_ms) == Some(&Binding::Hold(hold)) {
            self.nonces.remove(nonce);
        }
    }

    fn hold(&mut self, attempt: &HoldAttempt<'_>, now: Now) -> StoreResult<HoldOutcome> {
        if self.nonces.contains(attempt.nonce, now.ms) {
            return Ok(HoldOutcome::NonceUsed);
        }
        let taken: Vec<SeatIndex> =
            attempt.seats.iter().copied().filter(|seat| self.seats.contains(seat, now.ms)).collect();
        if !taken.is_empty() {
            return Ok(HoldOutcome::Unavailable(taken));
        }

        let expires_at_ms = now.ms_after(expiring_ttl_ms(attempt.ttl, "hold")?);
        let binding = Binding::Hold(attempt.hold);
        let mut versions = Vec::with_capacity(attempt.seats.len());
        for &seat in attempt.seats {
            self.seats.insert(seat, binding, Some(expires_at_ms));
            versions.push(self.seat_version(seat));
        }
        self.nonces.insert(attempt.nonce.to_owned(), binding, Some(expires_at_ms));

        // HSET keeps fields it does not set, so a record left under a reused hold id keeps its
        // expired flag in Redis too.
        let expired = self.records.get(&attempt.hold, now.ms).is_some_and(|record| record.expired);
        let record = StoredHold {
            fan: attempt.fan.clone(),
            nonce: attempt.nonce.to_owned(),
            seats: attempt.seats.to_vec(),
            expires_at_ms,
            expired,
        };
        let record_expires_at_ms = expires_at_ms.saturating_add(millis(HOLD_RECORD_GRACE));
        self.records.insert(attempt.hold, record, Some(record_expires_at_ms));
        self.by_expiry.insert(attempt.hold, expires_at_ms);
        self.stats.holds_started += 1;
        Ok(HoldOutcome::Held { expires_at_ms, versions })
    }

    fn hold_record(&self, hold: HoldId, now: Now) -> Option<HoldRecord> {
        self.records.get(&hold, now.ms).map(|record| HoldRecord {
            hold,
            fan: record.fan.clone(),
            nonce: record.nonce.clone(),
            seats: record.seats.clone(),
            expires_at_ms: record.expires_at_ms,
            expired: record.expired,
        })
    }

    fn release(&mut self, record: &HoldRecord, fan: &FanId, now: Now) -> ReleaseOutcome {
        let made_by_fan = self.records.get(&record.hold, now.ms).is_some_and(|stored| &stored.fan == fan);
        if !made_by_fan || self.by_expiry.time(record.hold).is_none() {
            return ReleaseOutcome::NotFound;
        }
        let binding = Binding::Hold(record.hold);
        let mut freed = Vec::new();
        for &seat in &record.seats {
            if self.seats.get(&seat, now.ms) == Some(&binding) {
                self.seats.remove(&seat);
                freed.push(self.seat_version(seat));
            }
        }
        self.unbind_nonce(&record.nonce, record.hold, now.ms);
        self.by_expiry.remove(record.hold);
        self.records.remove(&record.hold);
        self.stats.holds_released += 1;
        ReleaseOutcome::Released(freed)
    }

    fn expire(&mut self, record: &HoldRecord, now: Now) -> ExpireOutcome {
        let Some(expires_at_ms) = self.by_expiry.time(record.hold) else {
            return ExpireOutcome::Gone;
        };
        if expires_at_ms > now.ms {
            return ExpireOutcome::NotDue;
        }
        let binding = Binding::Hold(record.hold);
        let mut freed = Vec::new();
        for &seat in &record.seats {
            match self.seats.get(&seat, now.ms) {
                Some(current) if *current == binding => {
                    self.seats.remove(&seat);
                    freed.push(self.seat_version(seat));
                }
                // The key vanished by its own TTL, but the bitmap still shows the seat held.
                None => freed.push(self.seat_version(seat)),
                Some(_) => {}
            }
        }
        self.unbind_nonce(&record.nonce, record.hold, now.ms);
        self.by_expiry.remove(record.hold);
        // A record whose own grace period has passed stays absent, as in the EXPIRE script.
        if let Some(stored) = self.records.get_mut(&record.hold, now.ms) {
            stored.expired = true;
        }
        self.stats.holds_expired += 1;
        ExpireOutcome::Expired(freed)
    }

    fn claim_for_sale(&mut self, record: &HoldRecord, ttl: Duration, now: Now) -> StoreResult<ClaimOutcome> {
        let binding = Binding::Hold(record.hold);
        if self.nonces.get(record.nonce.as_str(), now.ms).is_some_and(|bound| *bound != binding) {
            return Ok(ClaimOutcome::NonceRebound);
        }
        let conflicts: Vec<SeatIndex> = record
            .seats
            .iter()
            .copied()
            .filter(|seat| self.seats.get(seat, now.ms).is_some_and(|current| *current != binding))
            .collect();
        if !conflicts.is_empty() {
            return Ok(ClaimOutcome::Conflict(conflicts));
        }

        let expires_at_ms = now.ms_after(expiring_ttl_ms(ttl, "claim")?);
        let mut retaken = Vec::new();
        for &seat in &record.seats {
            let was_free = !self.seats.contains(&seat, now.ms);
            // No expiry: only the expiry worker frees a claimed seat, after checking OrderDB.
            self.seats.insert(seat, binding, None);
            if was_free {
                retaken.push(self.seat_version(seat));
            }
        }
        self.nonces.insert(record.nonce.clone(), binding, None);
        self.by_expiry.insert(record.hold, expires_at_ms);
        if let Some(stored) = self.records.get_mut(&record.hold, now.ms) {
            stored.expired = false;
        }
        Ok(ClaimOutcome::Claimed { retaken })
    }

    fn mark_sold(&mut self, record: &HoldRecord, order: OrderId, nonce_ttl: Duration, now: Now) -> Vec<SeatVersion> {
        let binding = Binding::Order(order);
        let mut changed = Vec::new();
        for &seat in &record.seats {
            if self.seats.get(&seat, now.ms) != Some(&binding) {
                self.seats.insert(seat, binding, None);
                changed.push(self.seat_version(seat));
            }
        }
        let nonce_ttl_ms = millis(nonce_ttl);
        if nonce_ttl_ms > 0 {
            self.nonces.insert(record.nonce.clone(), binding, Some(now.ms_after(nonce_ttl_ms)));
        }
        self.by_expiry.remove(record.hold);
        self.records.remove(&record.hold);
        self.stats.seats_sold += changed.len() as u64;
        changed
    }

    fn repair_sold(&mut self, sold: &[(SeatIndex, OrderId)], now: Now) -> Vec<SeatVersion> {
        let mut changed = Vec::new();
        for &(seat, order) in sold {
            let binding = Binding::Order(order);
            if self.seats.get(&seat, now.ms) != Some(&binding) {
                self.seats.insert(seat, binding, None);
                changed.push(self.seat_version(seat));
            }
        }
        self.stats.seats_sold += changed.len() as u64;
        changed
    }

    fn seat_state(&self, seat: SeatIndex, now: Now) -> SeatState {
        match self.seats.get(&seat, now.ms) {
            None => SeatState::Free,
            Some(Binding::Hold(hold)) => SeatState::Held(*hold),
            Some(Binding::Order(order)) => SeatState::Sold(*order),
        }
    }
}

#[async_trait]
impl HoldStore for MemoryStore {
    async fn hold(&self, attempt: &HoldAttempt<'_>) -> StoreResult<HoldOutcome> {
        self.with_event(attempt.event, |state, now| state.holds.hold(attempt, now))
    }

    async fn hold_record(&self, event: EventId, hold: HoldId) -> StoreResult<Option<HoldRecord>> {
        self.read_event(event, |state, now| Ok(state.holds.hold_record(hold, now)))
    }

    async fn release(&self, event: EventId, record: &HoldRecord, fan: &FanId) -> StoreResult<ReleaseOutcome> {
        self.with_event(event, |state, now| Ok(state.holds.release(record, fan, now)))
    }

    async fn expire(&self, event: EventId, record: &HoldRecord) -> StoreResult<ExpireOutcome> {
        self.with_event(event, |state, now| Ok(state.holds.expire(record, now)))
    }

    async fn forget_hold(&self, event: EventId, hold: HoldId) -> StoreResult<()> {
        self.with_event(event, |state, _| {
            state.holds.by_expiry.remove(hold);
            Ok(())
        })
    }

    async fn due_holds(&self, event: EventId, limit: usize) -> StoreResult<Vec<HoldId>> {
        self.read_event(event, |state, now| Ok(state.holds.by_expiry.due(now.ms, limit)))
    }

    async fn claim_for_sale(&self, event: EventId, record: &HoldRecord, ttl: Duration) -> StoreResult<ClaimOutcome> {
        self.with_event(event, |state, now| state.holds.claim_for_sale(record, ttl, now))
    }

    async fn mark_sold(
        &self,
        event: EventId,
        record: &HoldRecord,
        order: OrderId,
        nonce_ttl: Duration,
    ) -> StoreResult<Vec<SeatVersion>> {
        self.with_event(event, |state, now| Ok(state.holds.mark_sold(record, order, nonce_ttl, now)))
    }

    async fn repair_sold(&self, event: EventId, sold: &[(SeatIndex, OrderId)]) -> StoreResult<Vec<SeatVersion>> {
        self.with_event(event, |state, now| Ok(state.holds.repair_sold(sold, now)))
    }

    async fn hold_stats(&self, event: EventId) -> StoreResult<HoldStats> {
        self.read_event(event, |state, _| Ok(state.holds.stats))
    }

    async fn seat_states(&self, event: EventId, seats: &[SeatIndex]) -> StoreResult<Vec<SeatState>> {
        self.read_event(event, |state, now| Ok(seats.iter().map(|seat| state.holds.seat_state(*seat, now)).collect()))
    }
}
