//! The admitter: pops the front of each open queue at the configured rate and issues each
//! popped fan an admission token.
//!
//! Every instance runs this loop; per queue, only the holder of the queue's lease admits. The
//! lease is checked inside the same script that removes fans from the queue, so an instance
//! whose lease lapsed mid-tick cannot pop after another took over.
//!
//! Rate control is a token bucket over measured elapsed time: each tick adds `rate × elapsed`
//! admissions, capped at half a second's worth so a stalled tick catches up without a burst.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use onsale_shared::api::QueueState;
use onsale_shared::token::TokenIssuer;
use onsale_shared::{EventId, FanId};

use crate::clock::Clock;
use crate::store::{AdmitOutcome, SharedStore, StoredAdmission};

#[derive(Clone)]
pub struct AdmitterConfig {
    pub default_rate: u32,
    pub tick: Duration,
    pub lease_ttl: Duration,
    pub default_state: QueueState,
}

impl AdmitterConfig {
    pub fn new(default_rate: u32, default_state: QueueState) -> Self {
        Self { default_rate, tick: Duration::from_millis(50), lease_ttl: Duration::from_secs(2), default_state }
    }
}

pub struct Admitter {
    store: SharedStore,
    issuer: TokenIssuer,
    clock: Clock,
    config: AdmitterConfig,
    /// This instance's lease owner id.
    owner: String,
}

/// Rate state of one queue whose lease this instance holds. Public with hidden docs only for the
/// admission_tick benchmark, which calls [`Admitter::tick_event`] itself.
#[doc(hidden)]
pub struct Bucket {
    allowance: f64,
    last_tick: Instant,
    /// Admissions of the last seconds, for the measured rate shown in ETAs.
    recent: VecDeque<(Instant, u64)>,
    last_reported: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self { allowance: 0.0, last_tick: now, recent: VecDeque::new(), last_reported: now }
    }

    /// Sets the admissions saved up for the next tick. Only the admission_tick benchmark calls
    /// it, so that every tick it times admits the same number of fans.
    #[doc(hidden)]
    pub fn set_allowance(&mut self, admissions: f64) {
        self.allowance = admissions;
    }

    fn measured_rate(&mut self, now: Instant) -> f64 {
        let window = Duration::from_secs(3);
        while self.recent.front().is_some_and(|(at, _)| now.duration_since(*at) > window) {
            self.recent.pop_front();
        }
        let admitted: u64 = self.recent.iter().map(|(_, n)| n).sum();
        let span = self.recent.front().map(|(at, _)| now.duration_since(*at)).unwrap_or_default();
        admitted as f64 / span.max(Duration::from_secs(1)).as_secs_f64()
    }
}

impl Admitter {
    pub fn new(store: SharedStore, issuer: TokenIssuer, clock: Clock, config: AdmitterConfig) -> Self {
        let owner = format!("admitter-{}", uuid::Uuid::new_v4().simple());
        Self { store, issuer, clock, config, owner }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Admits until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(admitter.owner = %self.owner, rate = self.config.default_rate, "admitter started");
        let mut buckets: HashMap<EventId, Bucket> = HashMap::new();
        let mut events = Vec::new();
        let mut events_read_at: Option<Instant> = None;
        let mut interval = tokio::time::interval(self.config.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = 0u32;

        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = interval.tick() => {}
            }
            if events_read_at.is_none_or(|at| at.elapsed() > Duration::from_secs(1)) {
                match self.store.active_events().await {
                    Ok(list) => {
                        events = list;
                        events_read_at = Some(Instant::now());
                    }
                    Err(err) => {
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(100) {
                            tracing::warn!(cause = %err, failures, "admitter could not list events");
                        }
                        continue;
                    }
                }
            }
            let this = &self;
            let ticks = events.iter().map(|event| {
                let bucket = buckets.remove(event);
                async move { (*event, this.tick_event(*event, bucket).await) }
            });
            for (event, bucket) in join_all(ticks).await {
                if let Some(bucket) = bucket {
                    buckets.insert(event, bucket);
                }
            }
        }
        tracing::info!(admitter.owner = %self.owner, "admitter stopped");
    }

    /// Runs one tick for one queue. Returns the bucket to keep, or `None` without the lease.
    /// [`Admitter::run`] calls it. It is public, with hidden docs, only for the admission_tick
    /// benchmark.
    #[doc(hidden)]
    pub async fn tick_event(&self, event: EventId, bucket: Option<Bucket>) -> Option<Bucket> {
        match self.store.acquire_lease(event, &self.owner, self.config.lease_ttl).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(err) => {
                tracing::warn!(event.id = %event, cause = %err, "admitter lease check failed");
                return None;
            }
        }
        let now = Instant::now();
        let mut bucket = bucket.unwrap_or_else(|| {
            tracing::info!(event.id = %event, admitter.owner = %self.owner, "took the admitter lease");
            Bucket::new(now)
        });
        match self.admit_batch(event, &mut bucket, now).await {
            Ok(()) => {}
            Err(err) => tracing::warn!(event.id = %event, cause = format!("{err:#}"), "admission batch failed"),
        }
        if now.duration_since(bucket.last_reported) >= Duration::from_millis(500) {
            bucket.last_reported = now;
            let rate = bucket.measured_rate(now);
            if let Err(err) = self.store.record_admission_rate(event, rate).await {
                tracing::debug!(event.id = %event, cause = %err, "recording the admission rate failed");
            }
        }
        Some(bucket)
    }

    async fn admit_batch(&self, event: EventId, bucket: &mut Bucket, now: Instant) -> anyhow::Result<()> {
        let elapsed = now.duration_since(bucket.last_tick).as_secs_f64();
        bucket.last_tick = now;
        let meta = self.store.queue_meta(event, self.config.default_state).await?;
        if meta.state != QueueState::Open {
            bucket.allowance = 0.0;
            return Ok(());
        }
        let rate = f64::from(meta.rate.unwrap_or(self.config.default_rate));
        bucket.allowance = refill(bucket.allowance, rate, elapsed);
        let wanted = (bucket.allowance.floor() as u64).min(meta.waiting) as usize;
        if wanted == 0 {
            if meta.waiting == 0 {
                // Nobody waits: do not save up admissions for a burst later.
                bucket.allowance = bucket.allowance.min(1.0);
            }
            return Ok(());
        }

        let fans = self.store.peek_queue(event, wanted).await?;
        let batch = self.sign_batch(event, fans).await?;
        let ttl = self.issuer.lifetime().to_std().unwrap_or(Duration::from_secs(900));
        match self.store.admit(event, &self.owner, &batch, ttl).await? {
            AdmitOutcome::Admitted(count) => {
                bucket.allowance -= count as f64;
                bucket.recent.push_back((now, count));
                tracing::debug!(event.id = %event, admitted = count, "admitted a batch");
            }
            AdmitOutcome::LeaseLost => tracing::info!(event.id = %event, "lost the admitter lease mid-tick"),
            AdmitOutcome::Idle => bucket.allowance = 0.0,
        }
        Ok(())
    }

    /// Signs one token per fan on the blocking threads, in one chunk per core when the batch
    /// is large enough to be worth splitting.
    async fn sign_batch(&self, event: EventId, fans: Vec<FanId>) -> anyhow::Result<Vec<(FanId, StoredAdmission)>> {
        let now = self.clock.now();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let chunk_size = fans.len().div_ceil(cores).max(MIN_SIGNING_CHUNK);
        let mut fans = fans;
        let mut chunks = Vec::new();
        while !fans.is_empty() {
            let rest = fans.split_off(chunk_size.min(fans.len()));
            chunks.push(std::mem::replace(&mut fans, rest));
        }
        let signers = chunks.into_iter().map(|chunk| {
            let issuer = self.issuer.clone();
            tokio::task::spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|fan| {
                        let issued = issuer.issue(&fan, event, now);
                        (fan, StoredAdmission { token: issued.token, expires_at: issued.expires_at })
                    })
                    .collect::<Vec<_>>()
            })
        });
        let mut signed = Vec::new();
        for chunk in join_all(signers).await {
            signed.extend(chunk?);
        }
        Ok(signed)
    }
}

/// Minimum number of tokens per signing thread. Below it, handing work to another thread costs
/// more than it saves.
const MIN_SIGNING_CHUNK: usize = 256;

/// Adds `rate × elapsed` admissions to the allowance, capped at half a second's worth so that a
/// stalled tick catches up without a burst. The cap is at least one admission, or a queue set
/// below 2 fans a second would never admit anyone.
fn refill(allowance: f64, rate: f64, elapsed: f64) -> f64 {
    (allowance + rate * elapsed).min((rate * 0.5).max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refill_caps_at_half_a_second() {
        assert_eq!(refill(0.0, 5000.0, 0.05), 250.0);
        assert_eq!(refill(0.0, 5000.0, 3.0), 2500.0);
        assert_eq!(refill(2400.0, 5000.0, 0.05), 2500.0);
    }

    #[test]
    fn refill_reaches_one_at_low_rates() {
        assert_eq!(refill(0.0, 1.0, 1.0), 1.0);
        assert_eq!(refill(0.0, 1.0, 60.0), 1.0);
        let mut allowance = 0.0;
        for _ in 0..20 {
            allowance = refill(allowance, 1.0, 0.05);
        }
        assert!(allowance >= 1.0, "a second at 1 fan a second adds one admission: {allowance}");
    }
}
