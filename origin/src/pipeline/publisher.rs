//! The seat-change producer. `publish` hands a message to librdkafka's queue and returns at
//! once: a hold never waits on Kafka, and a full queue or a broker outage never fails one.
//! A change that cannot be delivered (queue full, or not acknowledged within the message
//! timeout) flags its event's bitmap for a rebuild from the hold store instead, so the map
//! converges on the truth either way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use tokio::sync::mpsc;

use onsale_shared::EventId;

use super::messages::{SeatChangeMessage, event_key};
use crate::config::KafkaConfig;
use crate::store::SharedStore;

/// Counters of the producer, for logs and metrics.
#[derive(Debug, Default)]
pub struct PublisherCounters {
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
}

/// Delivery callbacks run on librdkafka's polling thread; this context only counts and hands
/// failed events to a Tokio task over a channel.
struct DeliveryContext {
    counters: Arc<PublisherCounters>,
    failed_events: mpsc::Sender<EventId>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((_, message)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                let event = message
                    .key()
                    .and_then(|key| std::str::from_utf8(key).ok())
                    .and_then(|key| key.parse::<EventId>().ok());
                if let Some(event) = event {
                    // A full channel means a rebuild of this event is already pending.
                    let _ = self.failed_events.try_send(event);
                }
            }
        }
    }
}

#[derive(Clone)]
pub struct SeatChangePublisher {
    producer: Arc<ThreadedProducer<DeliveryContext>>,
    topic: Arc<str>,
    counters: Arc<PublisherCounters>,
    failed_events: mpsc::Sender<EventId>,
}

impl SeatChangePublisher {
    /// Creates the producer and starts the task that flags bitmaps of undelivered changes.
    pub fn start(config: &KafkaConfig, store: SharedStore) -> anyhow::Result<Self> {
        let counters = Arc::new(PublisherCounters::default());
        let (failed_tx, failed_rx) = mpsc::channel(10_000);
        let context = DeliveryContext { counters: counters.clone(), failed_events: failed_tx.clone() };
        let producer: ThreadedProducer<DeliveryContext> = super::kafka::base_config(config)
            // One acknowledgement is enough: a change lost after it is healed by a rebuild.
            .set("acks", "1")
            .set("linger.ms", "1")
            .set("queue.buffering.max.messages", config.queue_max_messages.to_string())
            .set("message.timeout.ms", config.message_timeout.as_millis().to_string())
            .set("compression.type", "lz4")
            .create_with_context(context)?;
        tokio::spawn(flag_failed_bitmaps(failed_rx, store));
        Ok(Self {
            producer: Arc::new(producer),
            topic: config.seat_topic.as_str().into(),
            counters,
            failed_events: failed_tx,
        })
    }

    /// Queues a message for delivery without waiting.
    pub fn publish(&self, message: &SeatChangeMessage) {
        if message.changes.is_empty() {
            return;
        }
        let key = event_key(message.event_id);
        let payload = match serde_json::to_vec(message) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(event.id = %message.event_id, cause = %err, "serializing a seat change failed");
                return;
            }
        };
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        let record = BaseRecord::to(&self.topic).key(&key).payload(&payload);
        if let Err((err, _)) = self.producer.send(record) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(event.id = %message.event_id, cause = %err, "seat change not queued; its bitmap will be rebuilt");
            let _ = self.failed_events.try_send(message.event_id);
        }
    }

    pub fn counters(&self) -> &PublisherCounters {
        &self.counters
    }

    /// Waits up to `timeout` for queued messages to be delivered, at shutdown.
    pub fn flush(&self, timeout: std::time::Duration) {
        use rdkafka::producer::Producer;
        if let Err(err) = self.producer.flush(timeout) {
            tracing::warn!(cause = %err, "seat changes still queued at shutdown; bitmaps will be rebuilt");
        }
    }
}

/// Flags bitmaps whose changes were not delivered. Repeats for one event within a burst
/// collapse into the one Redis set member.
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
