//! NotificationWorker: consumes seat state changes and applies them to the availability
//! bitmaps, skipping any change older than the one a seat's bit already shows. It also rebuilds
//! a bitmap from the hold store when a change could not be published (the publisher flags the
//! event), and every `full_rebuild_interval` for every live event, which heals changes lost in
//! any other way.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use tokio_util::sync::CancellationToken;

use onsale_shared::EventId;

use crate::catalog::Catalog;
use crate::config::KafkaConfig;
use crate::pipeline::SeatChangeMessage;
use crate::pipeline::kafka;
use crate::store::{SeatStateChange, SharedStore};

/// Most messages applied per batch.
const MAX_BATCH: usize = 2000;
/// Longest wait for more messages before a batch is applied.
const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// Adds one consumed message to the batch. Returns whether a message was consumed (an unreadable
/// one counts, and is skipped with a warning).
fn add_to_batch(
    batch: &mut HashMap<EventId, Vec<SeatStateChange>>,
    message: Result<rdkafka::message::BorrowedMessage<'_>, rdkafka::error::KafkaError>,
) -> bool {
    match message {
        Ok(message) => {
            match message.payload().map(serde_json::from_slice::<SeatChangeMessage>) {
                Some(Ok(change)) => batch.entry(change.event_id).or_default().extend(change.changes),
                _ => tracing::warn!(
                    partition = message.partition(),
                    offset = message.offset(),
                    "skipping a seat change message that is not valid JSON"
                ),
            }
            true
        }
        Err(err) => {
            tracing::warn!(cause = %err, "Kafka consumer error");
            false
        }
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
    pub async fn run(self, config: &KafkaConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consumer = kafka::consumer(config, "notification")?;
        consumer.subscribe(&[config.seat_topic.as_str()])?;
        tracing::info!(topic = %config.seat_topic, "notification worker started");
        let repair = tokio::spawn(self.clone().repair_loop(shutdown.clone()));
        self.consume(&consumer, shutdown).await;
        repair.abort();
        tracing::info!("notification worker stopped");
        Ok(())
    }

    async fn consume(&self, consumer: &StreamConsumer, shutdown: CancellationToken) {
        let mut stream = consumer.stream();
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                message = stream.next() => message,
            };
            let Some(first) = first else { return };
            let mut batch: HashMap<EventId, Vec<SeatStateChange>> = HashMap::new();
            let mut consumed = usize::from(add_to_batch(&mut batch, first));
            let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
            while consumed < MAX_BATCH {
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(message)) => consumed += usize::from(add_to_batch(&mut batch, message)),
                    _ => break,
                }
            }
            if consumed == 0 {
                continue;
            }
            self.apply_batch(&batch, &shutdown).await;
            if let Err(err) = consumer.commit_consumer_state(CommitMode::Async) {
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
