//! Waiting-room queues: join, status, admission batches under a lease, operator state. Each
//! call is the counterpart of one Lua script or command in `store/redis/queue.rs`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Timelike;
use rand::seq::SliceRandom;

use onsale_shared::api::QueueState;
use onsale_shared::{EventId, FanId};

use super::expiring::ExpiringMap;
use super::{MemoryStore, Now, expiring_ttl_ms};
use crate::store::{AdmitOutcome, JoinOutcome, QueueMeta, QueueStore, StatusOutcome, StoreResult, StoredAdmission};

/// Fans in line by join time in µs, the counterpart of the `q` sorted set. Ties are ordered by
/// fan id, as a sorted set orders equal scores by member.
///
/// A sorted deque gives the rank of a fan by binary search. Joins land at the back and
/// admissions leave from the front, so both ends move cheaply.
#[derive(Default)]
struct Line {
    entries: VecDeque<(i64, FanId)>,
    scores: HashMap<FanId, i64>,
}

impl Line {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, score: i64, fan: &FanId) -> Result<usize, usize> {
        self.entries.binary_search_by(|(s, f)| s.cmp(&score).then_with(|| f.cmp(fan)))
    }

    fn rank(&self, fan: &FanId) -> Option<u64> {
        let score = *self.scores.get(fan)?;
        self.position(score, fan).ok().map(|index| index as u64)
    }

    /// Adds a fan who is not in line yet.
    fn insert(&mut self, fan: &FanId, score: i64) {
        if let Err(index) = self.position(score, fan) {
            self.entries.insert(index, (score, fan.clone()));
            self.scores.insert(fan.clone(), score);
        }
    }

    /// Adds every fan not in line yet, as `ZADD NX` does, in one merge of two sorted sequences.
    fn insert_many(&mut self, mut placed: Vec<(i64, FanId)>) {
        placed.retain(|(_, fan)| !self.scores.contains_key(fan));
        if placed.is_empty() {
            return;
        }
        placed.sort();
        for (score, fan) in &placed {
            self.scores.insert(fan.clone(), *score);
        }
        let existing = std::mem::take(&mut self.entries);
        let mut merged = VecDeque::with_capacity(existing.len() + placed.len());
        let mut existing = existing.into_iter().peekable();
        let mut placed = placed.into_iter().peekable();
        loop {
            let take_placed = match (existing.peek(), placed.peek()) {
                (Some(old), Some(new)) => new < old,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => break,
            };
            let next = if take_placed { placed.next() } else { existing.next() };
            merged.extend(next);
        }
        self.entries = merged;
    }

    fn remove(&mut self, fan: &FanId) -> bool {
        let Some(score) = self.scores.remove(fan) else {
            return false;
        };
        if let Ok(index) = self.position(score, fan) {
            self.entries.remove(index);
        }
        true
    }

    fn front(&self, count: usize) -> Vec<FanId> {
        self.entries.iter().take(count).map(|(_, fan)| fan.clone()).collect()
    }
}

/// The admitter lease of one queue.
struct Lease {
    owner: String,
    expires_at_ms: i64,
}

/// The queue of one event.
#[derive(Default)]
pub(super) struct QueueData {
    line: Line,
    /// Fans who joined before the open, placed at random when it opens.
    prequeue: HashSet<FanId>,
    /// Each admitted fan's token, until the token's TTL passes.
    admissions: ExpiringMap<FanId, StoredAdmission>,
    /// State set by the operator, or `None` before any, when each caller passes the state to assume.
    state: Option<QueueState>,
    rate: Option<u32>,
    joined: u64,
    admitted: u64,
    measured_rate: Option<f64>,
    lease: Option<Lease>,
    /// Score of the latest join or open, so later joins always score higher.
    last_score_us: i64,
}

impl QueueData {
    pub fn purge(&mut self, now_ms: i64) {
        self.admissions.purge(now_ms);
        if self.lease.as_ref().is_some_and(|lease| lease.expires_at_ms < now_ms) {
            self.lease = None;
        }
    }

    /// Returns the score of a join or an open at `now`.
    ///
    /// NOTE: Redis scores a join with its `TIME` in µs, and two joins in the same µs tie and are
    /// ordered by fan id. Here a join scores at least 1 µs after the previous one, so sequential
    /// joins always keep their order. A tie in Redis would need two joins within 1 µs on one node.
    fn next_score(&mut self, now: Now) -> i64 {
        let score = now.us.max(self.last_score_us.saturating_add(1));
        self.last_score_us = score;
        score
    }

    fn live_lease_owner(&self, now_ms: i64) -> Option<&str> {
        self.lease.as_ref().filter(|lease| now_ms <= lease.expires_at_ms).map(|lease| lease.owner.as_str())
    }

    fn join(&mut self, fan: &FanId, default_state: QueueState, now: Now) -> JoinOutcome {
        if let Some(admission) = self.admissions.get(fan, now.ms) {
            return JoinOutcome::Admitted(admission.clone());
        }
        let state = self.state.unwrap_or(default_state);
        match state {
            QueueState::Closed => JoinOutcome::Closed,
            QueueState::NotOpen => {
                if self.prequeue.insert(fan.clone()) {
                    self.joined += 1;
                }
                JoinOutcome::Prequeue
            }
            QueueState::Open | QueueState::Paused => {
                if self.line.rank(fan).is_none() {
                    let score = self.next_score(now);
                    self.line.insert(fan, score);
                    self.joined += 1;
                }
                let rank = self.line.rank(fan).unwrap_or_default();
                JoinOutcome::Queued { rank, paused: state == QueueState::Paused }
            }
        }
    }

    fn status(&self, fan: &FanId, default_state: QueueState, now: Now) -> StatusOutcome {
        if let Some(admission) = self.admissions.get(fan, now.ms) {
            return StatusOutcome::Admitted(admission.clone());
        }
        let state = self.state.unwrap_or(default_state);
        if self.prequeue.contains(fan) {
            return StatusOutcome::Prequeue;
        }
        match (state, self.line.rank(fan)) {
            (QueueState::Open, Some(rank)) => StatusOutcome::Queued { rank, paused: false },
            (QueueState::Paused, Some(rank)) => StatusOutcome::Queued { rank, paused: true },
            _ => StatusOutcome::NotQueued(state),
        }
    }

    fn meta(&self, default_state: QueueState) -> QueueMeta {
        QueueMeta {
            state: self.state.unwrap_or(default_state),
            rate: self.rate,
            joined: self.joined,
            admitted: self.admitted,
            waiting: self.line.len() as u64,
            prequeued: self.prequeue.len() as u64,
            measured_rate: self.measured_rate.unwrap_or(0.0),
        }
    }

    fn acquire_lease(&mut self, owner: &str, ttl: Duration, now: Now) -> StoreResult<bool> {
        match self.live_lease_owner(now.ms) {
            Some(holder) if holder == owner => {
                let expires_at_ms = now.ms_after(expiring_ttl_ms(ttl, "admitter lease")?);
                self.lease = Some(Lease { owner: owner.to_owned(), expires_at_ms });
                Ok(true)
            }
            Some(_) => Ok(false),
            None => {
                let expires_at_ms = now.ms_after(expiring_ttl_ms(ttl, "admitter lease")?);
                self.lease = Some(Lease { owner: owner.to_owned(), expires_at_ms });
                Ok(true)
            }
        }
    }

    fn admit(
        &mut self,
        owner: &str,
        batch: &[(FanId, StoredAdmission)],
        token_ttl: Duration,
        now: Now,
    ) -> StoreResult<AdmitOutcome> {
        if self.live_lease_owner(now.ms) != Some(owner) {
            return Ok(AdmitOutcome::LeaseLost);
        }
        // The ADMIT script assumes an open queue when none was set, whatever the caller's default.
        if self.state.unwrap_or(QueueState::Open) != QueueState::Open {
            return Ok(AdmitOutcome::Idle);
        }
        let mut admitted = 0;
        for (fan, admission) in batch {
            if self.line.remove(fan) {
                let expires_at_ms = now.ms_after(expiring_ttl_ms(token_ttl, "admission token")?);
                self.admissions.insert(fan.clone(), stored_admission(admission), Some(expires_at_ms));
                admitted += 1;
            }
        }
        self.admitted += admitted;
        Ok(AdmitOutcome::Admitted(admitted))
    }

    fn open(&mut self, now: Now) -> u64 {
        let opened_at_us = self.next_score(now);
        self.state = Some(QueueState::Open);
        if self.prequeue.is_empty() {
            return 0;
        }
        let mut fans: Vec<FanId> = self.prequeue.drain().collect();
        fans.shuffle(&mut rand::rngs::OsRng);
        // Scores end just before the open time, so every placed fan is ahead of later joins,
        // which score after it. One microsecond apart keeps the drawn order.
        let first_score = opened_at_us - fans.len() as i64;
        let count = fans.len() as u64;
        let placed = fans.into_iter().zip(first_score..).map(|(fan, score)| (score, fan)).collect();
        self.line.insert_many(placed);
        count
    }
}

/// Copies an admission as a fan reads it back. Redis stores the expiry in whole Unix seconds, so
/// the fraction of a second is dropped here too.
fn stored_admission(admission: &StoredAdmission) -> StoredAdmission {
    StoredAdmission {
        token: admission.token.clone(),
        expires_at: admission.expires_at.with_nanosecond(0).unwrap_or(admission.expires_at),
    }
}

/// Rounds the measured rate as it reads back, since Redis stores it with one decimal.
fn stored_rate(rate: f64) -> Option<f64> {
    format!("{rate:.1}").parse().ok()
}

#[async_trait]
impl QueueStore for MemoryStore {
    async fn join(&self, event: EventId, fan: &FanId, default_state: QueueState) -> StoreResult<JoinOutcome> {
        self.with_event(event, |state, now| Ok(state.queue.join(fan, default_state, now)))
    }

    async fn queue_status(&self, event: EventId, fan: &FanId, default_state: QueueState) -> StoreResult<StatusOutcome> {
        self.read_event(event, |state, now| Ok(state.queue.status(fan, default_state, now)))
    }

    async fn queue_meta(&self, event: EventId, default_state: QueueState) -> StoreResult<QueueMeta> {
        self.read_event(event, |state, _| Ok(state.queue.meta(default_state)))
    }

    async fn peek_queue(&self, event: EventId, count: usize) -> StoreResult<Vec<FanId>> {
        self.read_event(event, |state, _| Ok(state.queue.line.front(count)))
    }

    async fn acquire_lease(&self, event: EventId, owner: &str, ttl: Duration) -> StoreResult<bool> {
        self.with_event(event, |state, now| state.queue.acquire_lease(owner, ttl, now))
    }

    async fn admit(
        &self,
        event: EventId,
        owner: &str,
        batch: &[(FanId, StoredAdmission)],
        token_ttl: Duration,
    ) -> StoreResult<AdmitOutcome> {
        self.with_event(event, |state, now| state.queue.admit(owner, batch, token_ttl, now))
    }

    async fn record_admission_rate(&self, event: EventId, rate: f64) -> StoreResult<()> {
        self.with_event(event, |state, _| {
            state.queue.measured_rate = stored_rate(rate);
            Ok(())
        })
    }

    async fn set_queue_state(&self, event: EventId, queue_state: QueueState) -> StoreResult<()> {
        self.with_event(event, |state, _| {
            state.queue.state = Some(queue_state);
            Ok(())
        })
    }

    async fn set_queue_rate(&self, event: EventId, rate: u32) -> StoreResult<()> {
        self.with_event(event, |state, _| {
            state.queue.rate = Some(rate);
            Ok(())
        })
    }

    async fn open_queue(&self, event: EventId) -> StoreResult<u64> {
        self.with_event(event, |state, now| Ok(state.queue.open(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fan(name: &str) -> FanId {
        name.parse().unwrap()
    }

    #[test]
    fn line_ranks_by_score_then_fan() {
        let mut line = Line::default();
        line.insert(&fan("c"), 20);
        line.insert(&fan("b"), 10);
        line.insert(&fan("a"), 10);
        assert_eq!(line.front(3), vec![fan("a"), fan("b"), fan("c")]);
        assert_eq!(line.rank(&fan("c")), Some(2));
        assert!(line.remove(&fan("a")));
        assert!(!line.remove(&fan("a")));
        assert_eq!(line.rank(&fan("c")), Some(1));
    }

    #[test]
    fn insert_many_merges_and_skips_fans_in_line() {
        let mut line = Line::default();
        line.insert(&fan("x"), 5);
        line.insert(&fan("y"), 50);
        line.insert_many(vec![(30, fan("p")), (1, fan("q")), (99, fan("x"))]);
        assert_eq!(line.front(10), vec![fan("q"), fan("x"), fan("p"), fan("y")]);
        assert_eq!(line.rank(&fan("y")), Some(3));
        assert_eq!(line.rank(&fan("x")), Some(1));
    }
}
