//! NotificationWorker: consumes seat state changes and applies them to the availability
//! bitmaps, skipping any change older than the one a seat's bit already shows. It also rebuilds
//! a bitmap from the hold store when a change could not be published (the publisher flags the
//! event), and every `full_rebuild_interval` for every live event, which heals changes lost in
//! any other way.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use onsale_shared::EventId;

use crate::catalog::Catalog;
use crate::config::KafkaConfig;
use crate::pipeline::SeatChangeMessage;
use crate::pipeline::log::{LogConsumer, LogMessage, SharedLog};
use crate::store::{SeatStateChange, SharedStore};

/// Most messages applied per batch.
const MAX_BATCH: usize = 2000;
/// Longest wait for more messages before a batch is applied.
const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// A batch of consumed messages: their changes by event, and the offsets to commit after.
#[derive(Default)]
struct Batch {
    changes: HashMap<EventId, Vec<SeatStateChange>>,
    /// Per partition, the offset after the last message taken.
    next_offsets: HashMap<i32, i64>,
    messages: usize,
}

impl Batch {
    /// Adds one message. An unreadable one is skipped with a warning, and still committed.
    fn add(&mut self, message: LogMessage) {
        match serde_json::from_slice::<SeatChangeMessage>(&message.payload) {
            Ok(change) => self.changes.entry(change.event_id).or_default().extend(change.changes),
            Err(err) => tracing::warn!(
                partition = message.partition,
                offset = message.offset,
                cause = %err,
                "skipping a seat change message that is not valid JSON"
            ),
        }
        self.next_offsets.insert(message.partition, message.offset + 1);
        self.messages += 1;
    }
}

#[derive(Clone)]
pub struct NotificationWorker {
    store: SharedStore,
    catalog: Catalog,
    pub full_rebuild_interval: Duration,
    pub dirty_check_interval: Duration,
}

impl NotificationWorker {
    pub fn new(store: SharedStore, catalog: Catalog) -> Self {
        Self {
            store,
            catalog,
            full_rebuild_interval: Duration::from_secs(30),
            dirty_check_interval: Duration::from_millis(250),
        }
    }

    /// Consumes and repairs until `shutdown` is cancelled.
    pub async fn run(self, log: SharedLog, config: &KafkaConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
        let group = format!("{}.notification", config.group_prefix);
        let mut consumer = log.subscribe(&group, &config.seat_topic).await?;
        tracing::info!(topic = %config.seat_topic, log.backend = log.backend(), "notification worker started");
        let repair = tokio::spawn(self.clone().repair_loop(shutdown.clone()));
        self.consume(consumer.as_mut(), shutdown).await;
        repair.abort();
        tracing::info!("notification worker stopped");
        Ok(())
    }

    async fn consume(&self, consumer: &mut dyn LogConsumer, shutdown: CancellationToken) {
        let mut errors = 0u64;
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                message = consumer.next() => message,
            };
            let first = match first {
                Ok(message) => message,
                Err(err) => {
                    errors += 1;
                    if errors % 100 == 1 {
                        tracing::warn!(cause = %err, errors, "reading seat changes failed; retrying");
                    }
                    continue;
                }
            };
            let mut batch = Batch::default();
            batch.add(first);
            let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
            while batch.messages < MAX_BATCH {
                match tokio::time::timeout_at(deadline, consumer.next()).await {
                    Ok(Ok(message)) => batch.add(message),
                    _ => break,
                }
            }
            self.apply_batch(&batch.changes, &shutdown).await;
            let offsets: Vec<(i32, i64)> = batch.next_offsets.into_iter().collect();
            if let Err(err) = consumer.commit(&offsets).await {
                tracing::debug!(cause = %err, "committing consumer offsets failed; the next commit covers them");
            }
        }
    }

    /// Applies a batch, retrying while Redis is unavailable: offsets are committed only after.
    async fn apply_batch(&self, batch: &HashMap<EventId, Vec<SeatStateChange>>, shutdown: &CancellationToken) {
        for (event, changes) in batch {
            let mut failures = 0u32;
            loop {
                match self.store.apply_changes(*event, changes).await {
                    Ok(applied) => {
                        tracing::trace!(event.id = %event, changes = changes.len(), applied, "applied seat changes");
                        break;
                    }
                    Err(err) => {
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(50) {
                            tracing::warn!(event.id = %event, cause = %err, failures, "applying seat changes failed; retrying");
                        }
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_millis(100 * u64::from(failures.min(10)))) => {}
                        }
                    }
                }
            }
        }
    }

    async fn repair_loop(self, shutdown: CancellationToken) {
        let mut dirty_tick = tokio::time::interval(self.dirty_check_interval);
        let mut full_tick = tokio::time::interval(self.full_rebuild_interval);
        full_tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = dirty_tick.tick() => {
                    match self.store.take_dirty_bitmaps(100).await {
                        Ok(events) => for event in events {
                            if self.rebuild(event).await.is_err() {
                                // Put it back so the next tick tries again.
                                let _ = self.store.mark_bitmap_dirty(event).await;
                            }
                        },
                        Err(err) => tracing::debug!(cause = %err, "reading dirty bitmaps failed"),
                    }
                }
                _ = full_tick.tick() => {
                    match self.store.active_events().await {
                        Ok(events) => for event in events {
                            let _ = self.rebuild(event).await;
                        },
                        Err(err) => tracing::debug!(cause = %err, "listing live events failed"),
                    }
                }
            }
        }
    }

    /// Rebuilds one event's bitmap from the hold store.
    pub async fn rebuild(&self, event: EventId) -> anyhow::Result<u64> {
        let info = match self.catalog.event(event).await {
            Ok(Some(info)) => info,
            Ok(None) => return Ok(0),
            Err(err) => {
                tracing::warn!(event.id = %event, cause = %err, "reading the event for a bitmap rebuild failed");
                return Err(err.into());
            }
        };
        match self.store.rebuild_bitmap(event, info.seat_count).await {
            Ok(changed) => {
                if changed > 0 {
                    tracing::info!(event.id = %event, bits.changed = changed, "rebuilt the bitmap from the hold store");
                }
                Ok(changed)
            }
            Err(err) => {
                tracing::warn!(event.id = %event, cause = %err, "bitmap rebuild failed");
                Err(err.into())
            }
        }
    }
}
