//! The in-process backend of the event log: topics of partitions held in memory, consumer
//! groups with committed offsets, and a notification that wakes waiting consumers.
//!
//! Group membership follows Kafka's rule for one member: the newest consumer of a group owns
//! all of its partitions and starts at the committed offsets; an older consumer of that group
//! receives nothing more. Messages are kept until the process stops.
//!
//! NOTE: nothing is ever trimmed. A 72,000-seat onsale writes a few hundred thousand small
//! messages, tens of megabytes; a deployment that sells for weeks without restarting belongs on
//! Kafka.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};

use super::{EventLog, FailedDelivery, LogConsumer, LogError, LogMessage, OffsetCommitter, partition_for};

struct StoredMessage {
    key: Vec<u8>,
    payload: Vec<u8>,
}

struct Topic {
    partitions: Vec<Vec<StoredMessage>>,
    /// Woken on every append, so consumers waiting on this topic read again.
    appended: Arc<Notify>,
}

impl Topic {
    fn new(partitions: i32) -> Self {
        Self { partitions: (0..partitions.max(1)).map(|_| Vec::new()).collect(), appended: Arc::new(Notify::new()) }
    }
}

#[derive(Default)]
struct Group {
    /// Next offset to read, per partition, as last committed.
    committed: HashMap<i32, i64>,
    /// Bumped by each new subscriber; only the consumer holding the current value reads.
    generation: u64,
}

#[derive(Default)]
struct State {
    topics: HashMap<String, Topic>,
    /// Keyed by (group, topic).
    groups: HashMap<(String, String), Group>,
}

/// The in-process event log. Cloning shares the log.
#[derive(Clone)]
pub struct MemoryLog {
    /// A std mutex: every operation is a few map lookups, and none holds it across an await.
    state: Arc<Mutex<State>>,
    default_partitions: i32,
}

impl MemoryLog {
    /// `failures` is never sent to: a message queued in memory is delivered.
    pub fn new(default_partitions: i32, failures: mpsc::Sender<FailedDelivery>) -> Self {
        drop(failures);
        Self { state: Arc::new(Mutex::new(State::default())), default_partitions: default_partitions.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append(&self, topic: &str, key: &[u8], payload: &[u8]) {
        let mut state = self.lock();
        let partitions = self.default_partitions;
        let topic = state.topics.entry(topic.to_owned()).or_insert_with(|| Topic::new(partitions));
        let partition = partition_for(key, topic.partitions.len() as i32) as usize;
        topic.partitions[partition].push(StoredMessage { key: key.to_vec(), payload: payload.to_vec() });
        topic.appended.notify_waiters();
    }
}

#[async_trait]
impl EventLog for MemoryLog {
    async fn ensure_topics(&self, topics: &[&str], partitions: i32) -> Result<(), LogError> {
        let mut state = self.lock();
        for topic in topics {
            state.topics.entry((*topic).to_owned()).or_insert_with(|| Topic::new(partitions));
        }
        Ok(())
    }

    fn publish(&self, topic: &str, key: &[u8], payload: &[u8]) -> Result<(), LogError> {
        self.append(topic, key, payload);
        Ok(())
    }

    async fn send(&self, topic: &str, key: &[u8], payload: &[u8], _timeout: Duration) -> Result<(), LogError> {
        self.append(topic, key, payload);
        Ok(())
    }

    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        let mut state = self.lock();
        let partitions = self.default_partitions;
        state.topics.entry(topic.to_owned()).or_insert_with(|| Topic::new(partitions));
        let entry = state.groups.entry((group.to_owned(), topic.to_owned())).or_default();
        entry.generation += 1;
        let positions = entry.committed.clone();
        Ok(Box::new(MemoryConsumer {
            log: self.clone(),
            group: group.to_owned(),
            topic: topic.to_owned(),
            generation: entry.generation,
            positions,
            next_partition: 0,
        }))
    }

    fn flush(&self, _timeout: Duration) {}

    fn backend(&self) -> &'static str {
        "memory"
    }
}

struct MemoryConsumer {
    log: MemoryLog,
    group: String,
    topic: String,
    generation: u64,
    /// Next offset to read, per partition.
    positions: HashMap<i32, i64>,
    /// Partition to look at first, rotated so no partition starves the others.
    next_partition: usize,
}

impl MemoryConsumer {
    /// Takes the next unread message, if any, or returns the notification to wait on.
    fn poll(&mut self) -> Result<LogMessage, Arc<Notify>> {
        let state = self.log.lock();
        let Some(topic) = state.topics.get(&self.topic) else {
            // Unreachable: `subscribe` creates the topic and topics are never removed.
            return Err(Arc::new(Notify::new()));
        };
        let current_generation = state
            .groups
            .get(&(self.group.clone(), self.topic.clone()))
            .map(|group| group.generation)
            .unwrap_or_default();
        if current_generation == self.generation {
            let count = topic.partitions.len();
            for step in 0..count {
                let partition = (self.next_partition + step) % count;
                let position = self.positions.entry(partition as i32).or_insert(0);
                if let Some(message) = topic.partitions[partition].get(*position as usize) {
                    let read = LogMessage {
                        topic: self.topic.clone(),
                        partition: partition as i32,
                        offset: *position,
                        key: message.key.clone(),
                        payload: message.payload.clone(),
                    };
                    *position += 1;
                    self.next_partition = (partition + 1) % count;
                    return Ok(read);
                }
            }
        }
        Err(topic.appended.clone())
    }
}

#[async_trait]
impl LogConsumer for MemoryConsumer {
    async fn next(&mut self) -> Result<LogMessage, LogError> {
        loop {
            let appended = match self.poll() {
                Ok(message) => return Ok(message),
                Err(appended) => appended,
            };
            let notified = appended.notified();
            tokio::pin!(notified);
            // Register before looking again, so an append between the two is not missed.
            notified.as_mut().enable();
            if let Ok(message) = self.poll() {
                return Ok(message);
            }
            notified.await;
        }
    }

    fn committer(&self) -> Arc<dyn OffsetCommitter> {
        Arc::new(MemoryCommitter {
            log: self.log.clone(),
            group: self.group.clone(),
            topic: self.topic.clone(),
            generation: self.generation,
        })
    }
}

struct MemoryCommitter {
    log: MemoryLog,
    group: String,
    topic: String,
    generation: u64,
}

#[async_trait]
impl OffsetCommitter for MemoryCommitter {
    async fn commit(&self, offsets: &[(i32, i64)]) -> Result<(), LogError> {
        let mut state = self.log.lock();
        let Some(group) = state.groups.get_mut(&(self.group.clone(), self.topic.clone())) else {
            return Err(LogError::Invalid(format!("group {} is not subscribed to {}", self.group, self.topic)));
        };
        if group.generation != self.generation {
            // A newer member owns the partitions; its commits win, as in a Kafka rebalance.
            return Ok(());
        }
        for (partition, offset) in offsets {
            group.committed.insert(*partition, *offset);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> MemoryLog {
        let (failures, _) = mpsc::channel(1);
        MemoryLog::new(3, failures)
    }

    #[tokio::test]
    async fn one_key_keeps_its_order() {
        let log = log();
        for i in 0..20u8 {
            log.publish("t", b"event-7", &[i]).unwrap();
        }
        let mut consumer = log.subscribe("g", "t").await.unwrap();
        for i in 0..20u8 {
            assert_eq!(consumer.next().await.unwrap().payload, vec![i]);
        }
    }

    #[tokio::test]
    async fn uncommitted_messages_are_redelivered() {
        let log = log();
        for i in 0..4u8 {
            log.publish("t", b"k", &[i]).unwrap();
        }
        let mut first = log.subscribe("g", "t").await.unwrap();
        let a = first.next().await.unwrap();
        let _b = first.next().await.unwrap();
        first.commit(&[(a.partition, a.offset + 1)]).await.unwrap();
        drop(first);

        let mut second = log.subscribe("g", "t").await.unwrap();
        assert_eq!(second.next().await.unwrap().payload, vec![1]);
    }

    #[tokio::test]
    async fn waiting_consumer_wakes_on_publish() {
        let log = log();
        let mut consumer = log.subscribe("g", "t").await.unwrap();
        let publisher = log.clone();
        let wait = tokio::spawn(async move { consumer.next().await.unwrap().payload });
        tokio::task::yield_now().await;
        publisher.publish("t", b"k", b"x").unwrap();
        let payload = tokio::time::timeout(Duration::from_secs(5), wait).await.unwrap().unwrap();
        assert_eq!(payload, b"x".to_vec());
    }

    #[tokio::test]
    async fn newer_member_takes_the_partitions() {
        let log = log();
        let mut older = log.subscribe("g", "t").await.unwrap();
        let mut newer = log.subscribe("g", "t").await.unwrap();
        log.publish("t", b"k", b"x").unwrap();
        assert_eq!(newer.next().await.unwrap().payload, b"x".to_vec());
        let waited = tokio::time::timeout(Duration::from_millis(100), older.next()).await;
        assert!(waited.is_err(), "the older member must receive nothing");
    }
}
