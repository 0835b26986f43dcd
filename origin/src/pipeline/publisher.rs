//! The seat-change producer. `publish` hands a message to the event log's queue and returns at
//! once, so a hold never waits on Kafka, and a full queue or a broker outage never fails one.
//! A change that cannot be delivered (the queue is full, or the broker does not acknowledge it
//! within the message timeout) flags its event's bitmap for a rebuild from the hold store, so
//! the map converges on the truth either way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use onsale_shared::EventId;

use super::log::{FailedDelivery, LogError, SharedLog};
use super::messages::{SeatChangeMessage, event_key};
use crate::store::SharedStore;

/// Counters of the producer, for logs and metrics.
#[derive(Debug, Default)]
pub struct PublisherCounters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
}

#[derive(Clone)]
pub struct SeatChangePublisher {
    log: SharedLog,
    topic: Arc<str>,
    counters: Arc<PublisherCounters>,
    /// Events whose change could not be queued, for the task that flags their bitmaps.
    failed_events: mpsc::Sender<EventId>,
}

impl SeatChangePublisher {
    /// Starts the task that flags the bitmaps of undelivered changes. `deliveries` is the failure
    /// channel the event log was opened with.
    pub fn start(log: SharedLog, topic: &str, store: SharedStore, deliveries: mpsc::Receiver<FailedDelivery>) -> Self {
        let counters = Arc::new(PublisherCounters::default());
        let (failed_tx, failed_rx) = mpsc::channel(10_000);
        tokio::spawn(forward_failed_deliveries(deliveries, topic.to_owned(), failed_tx.clone(), counters.clone()));
        tokio::spawn(flag_failed_bitmaps(failed_rx, store));
        Self { log, topic: topic.into(), counters, failed_events: failed_tx }
    }

    /// Queues a message for delivery without waiting.
    pub fn publish(&self, message: &SeatChangeMessage) {
        if message.changes.is_empty() {
            return;
        }
        let payload = match serde_json::to_vec(message) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(event.id = %message.event_id, cause = %err, "serializing a seat change failed");
                return;
            }
        };
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        let key = event_key(message.event_id);
        if let Err(err) = self.log.publish(&self.topic, key.as_bytes(), &payload) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            if !matches!(err, LogError::QueueFull) {
                tracing::debug!(event.id = %message.event_id, cause = %err, "seat change not queued; its bitmap will be rebuilt");
            }
            let _ = self.failed_events.try_send(message.event_id);
        }
    }

    pub fn counters(&self) -> &PublisherCounters {
        &self.counters
    }

    /// Waits up to `timeout` for queued messages to be delivered, at shutdown.
    pub fn flush(&self, timeout: std::time::Duration) {
        self.log.flush(timeout);
    }
}

/// Turns the log's reports of undelivered seat changes into events to rebuild.
async fn forward_failed_deliveries(
    mut deliveries: mpsc::Receiver<FailedDelivery>,
    topic: String,
    failed_events: mpsc::Sender<EventId>,
    counters: Arc<PublisherCounters>,
) {
    while let Some(failed) = deliveries.recv().await {
        if failed.topic != topic {
            continue;
        }
        counters.failed.fetch_add(1, Ordering::Relaxed);
        let event = std::str::from_utf8(&failed.key).ok().and_then(|key| key.parse::<EventId>().ok());
        if let Some(event) = event {
            // A full channel means a rebuild of this event is already pending.
            let _ = failed_events.try_send(event);
        }
    }
}

/// Flags bitmaps whose changes were not delivered. Repeats for one event within a burst
/// collapse into the one set member.
async fn flag_failed_bitmaps(mut failed: mpsc::Receiver<EventId>, store: SharedStore) {
    let mut logged_failures = 0u64;
    while let Some(event) = failed.recv().await {
        if let Err(err) = store.mark_bitmap_dirty(event).await {
            logged_failures += 1;
            // Log the first failure and then one in a thousand, so an outage cannot flood the log.
            if logged_failures % 1000 == 1 {
                tracing::error!(event.id = %event, cause = %err, failures = logged_failures, "flagging a bitmap for rebuild failed");
            }
        }
    }
}
