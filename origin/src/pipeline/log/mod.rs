//! The event log: topics of keyed messages, split into partitions by key, read by consumer
//! groups that commit their offsets. Two backends implement [`EventLog`]:
//!
//! - [`kafka`]: Apache Kafka (or a Kafka-compatible broker) through librdkafka, for production.
//!   Selected by a broker list such as `kafka-1:9092,kafka-2:9092`.
//! - [`memory`]: in this process, for trying onsale out, development and single-box events.
//!   Selected by `memory://`. Messages and offsets are lost when the process stops.
//!
//! Both keep the order of one key's messages (one key always maps to one partition), redeliver
//! what a group has not committed when a consumer starts over, and let a producer queue a
//! message without waiting.

pub mod kafka;
pub mod memory;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::config::KafkaConfig;

/// One message read from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The producer's local queue is full; the message was not queued.
    #[error("event log queue is full")]
    QueueFull,
    /// The broker is unreachable, timed out or rejected the request.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// A request that cannot succeed as made, such as an unknown topic.
    #[error("event log error: {0}")]
    Invalid(String),
}

/// A message that was queued by [`EventLog::publish`] but could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDelivery {
    pub topic: String,
    pub key: Vec<u8>,
}

#[async_trait]
pub trait EventLog: Send + Sync {
    /// Creates the topics that do not exist yet, each with `partitions` partitions.
    async fn ensure_topics(&self, topics: &[&str], partitions: i32) -> Result<(), LogError>;

    /// Queues a message for delivery and returns at once. A message that is queued and then
    /// not delivered is reported on the channel the log was built with.
    fn publish(&self, topic: &str, key: &[u8], payload: &[u8]) -> Result<(), LogError>;

    /// Sends a message and waits until the log has stored it.
    async fn send(&self, topic: &str, key: &[u8], payload: &[u8], timeout: Duration) -> Result<(), LogError>;

    /// Joins consumer group `group` on `topic`. Reading starts at the group's committed offsets,
    /// or at the start of each partition for a new group.
    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn LogConsumer>, LogError>;

    /// Waits up to `timeout` for queued messages to be delivered, at shutdown.
    fn flush(&self, timeout: Duration);

    /// The backend's name, for logs: `kafka` or `memory`.
    fn backend(&self) -> &'static str;
}

#[async_trait]
pub trait LogConsumer: Send {
    /// Waits for the next message of the subscribed topic. An error is transient: log it and
    /// call again. Cancel-safe: dropping the future loses no message.
    async fn next(&mut self) -> Result<LogMessage, LogError>;

    /// A handle that commits this consumer's offsets, usable while `next` is pending.
    fn committer(&self) -> Arc<dyn OffsetCommitter>;

    /// Commits, for each partition, the offset of the next message the group should read.
    async fn commit(&mut self, offsets: &[(i32, i64)]) -> Result<(), LogError> {
        self.committer().commit(offsets).await
    }
}

#[async_trait]
pub trait OffsetCommitter: Send + Sync {
    /// Commits, for each partition, the offset of the next message the group should read. The
    /// commit may complete after the call returns; a lost commit only redelivers messages.
    async fn commit(&self, offsets: &[(i32, i64)]) -> Result<(), LogError>;

    /// Commits and waits until the log has stored the offsets, for a clean shutdown.
    async fn commit_and_wait(&self, offsets: &[(i32, i64)]) -> Result<(), LogError> {
        self.commit(offsets).await
    }
}

pub type SharedLog = Arc<dyn EventLog>;

/// The partition of a key: FNV-1a of the key bytes, modulo the partition count. Both backends'
/// partition choice only has to be stable per key; Kafka uses its own partitioner.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % partitions.max(1) as u32) as i32
}

/// Opens the event log the configuration names: `memory://` for the in-process log, anything
/// else as a Kafka broker list. Undelivered messages are reported on `failures`.
pub fn open(config: &KafkaConfig, failures: mpsc::Sender<FailedDelivery>) -> anyhow::Result<SharedLog> {
    if config.is_memory() {
        Ok(Arc::new(memory::MemoryLog::new(config.partitions, failures)))
    } else {
        Ok(Arc::new(kafka::KafkaLog::new(config, failures)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable_and_in_range() {
        for partitions in [1, 2, 6, 48] {
            for key in ["1", "42", "9000000000"] {
                let partition = partition_for(key.as_bytes(), partitions);
                assert!((0..partitions).contains(&partition));
                assert_eq!(partition, partition_for(key.as_bytes(), partitions));
            }
        }
    }
}
