//! The Kafka backend of the event log, through librdkafka.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, FutureProducer, FutureRecord, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::{EventLog, FailedDelivery, LogConsumer, LogError, LogMessage, OffsetCommitter};
use crate::config::KafkaConfig;

/// Settings every client of ours shares.
pub fn base_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", config.brokers())
        .set("client.id", "onsale")
        // Keep reconnect attempts frequent, so the pipeline resumes within a second of the broker.
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "1000")
        .set("socket.keepalive.enable", "true")
        .set("security.protocol", config.security_protocol.as_librdkafka());
    if let Some(ca) = &config.ssl_ca_location {
        client.set("ssl.ca.location", ca.display().to_string());
    }
    if let Some(mechanism) = &config.sasl_mechanism {
        client.set("sasl.mechanism", mechanism);
    }
    if let Some(username) = &config.sasl_username {
        client.set("sasl.username", username);
    }
    if let Some(password) = &config.sasl_password {
        client.set("sasl.password", password.expose());
    }
    client
}

/// Fails early, with the fix, when the configuration asks for TLS that this build lacks.
fn check_tls_support(config: &KafkaConfig) -> anyhow::Result<()> {
    if config.security_protocol.uses_tls() && !cfg!(feature = "kafka-tls") {
        anyhow::bail!(
            "--kafka-security-protocol {} needs TLS, which this build of onsale lacks: build it with \
             `cargo build --release -p onsale-origin --features kafka-tls`",
            config.security_protocol.as_librdkafka()
        );
    }
    Ok(())
}

/// Delivery callbacks run on librdkafka's polling thread; this context only reports failures
/// on a channel.
struct DeliveryContext {
    failures: mpsc::Sender<FailedDelivery>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((_, message)) = result {
            let failed = FailedDelivery {
                topic: message.topic().to_owned(),
                key: message.key().map(<[u8]>::to_vec).unwrap_or_default(),
            };
            // A full channel only drops a duplicate report: the receiver rebuilds per event.
            let _ = self.failures.try_send(failed);
        }
    }
}

pub struct KafkaLog {
    config: KafkaConfig,
    /// For `publish`: one acknowledgement, short linger, a bounded local queue.
    fast: ThreadedProducer<DeliveryContext>,
    /// For `send`: every in-sync replica acknowledges, idempotent.
    reliable: FutureProducer,
}

impl KafkaLog {
    pub fn new(config: &KafkaConfig, failures: mpsc::Sender<FailedDelivery>) -> anyhow::Result<Self> {
        check_tls_support(config)?;
        let fast = publish_producer_config(config).create_with_context(DeliveryContext { failures })?;
        let reliable = send_producer_config(config).create()?;
        Ok(Self { config: config.clone(), fast, reliable })
    }
}

/// Settings of the producer behind [`EventLog::publish`]: one acknowledgement, short linger, a
/// bounded local queue.
pub fn publish_producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = base_config(config);
    client
        .set("acks", "1")
        .set("linger.ms", "1")
        .set("queue.buffering.max.messages", config.queue_max_messages.to_string())
        .set("message.timeout.ms", config.message_timeout.as_millis().to_string())
        .set("compression.type", "lz4");
    client
}

/// Settings of the producer behind [`EventLog::send`]: every in-sync replica acknowledges,
/// idempotent.
pub fn send_producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = base_config(config);
    client
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "15000");
    client
}

/// Settings of the consumers that [`EventLog::subscribe`] creates, in consumer group `group`.
pub fn consumer_config(config: &KafkaConfig, group: &str) -> ClientConfig {
    let mut client = base_config(config);
    client
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // Fetch as soon as any byte is there: bitmap staleness is the consumer's wait plus lag.
        .set("fetch.wait.max.ms", "10")
        .set("fetch.min.bytes", "1")
        // We write no transactions, so this reads the same messages as read_committed on
        // Kafka. tansu 0.6 on PostgreSQL 15 fails the query behind read_committed's offsets.
        .set("isolation.level", "read_uncommitted");
    client
}

fn unavailable(err: KafkaError) -> LogError {
    LogError::Unavailable(err.to_string())
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn ensure_topics(&self, topics: &[&str], partitions: i32) -> Result<(), LogError> {
        let admin: AdminClient<DefaultClientContext> = base_config(&self.config).create().map_err(unavailable)?;
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|topic| NewTopic::new(topic, partitions, TopicReplication::Fixed(self.config.replication)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = admin.create_topics(&new_topics, &options).await.map_err(unavailable)?;
        for result in results {
            match result {
                Ok(topic) => tracing::info!(topic, "created Kafka topic"),
                Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => tracing::debug!(topic, "Kafka topic exists"),
                Err((topic, code)) => {
                    return Err(LogError::Unavailable(format!("creating topic {topic} failed: {code}")));
                }
            }
        }
        Ok(())
    }

    fn publish(&self, topic: &str, key: &[u8], payload: &[u8]) -> Result<(), LogError> {
        let record = BaseRecord::to(topic).key(key).payload(payload);
        self.fast.send(record).map_err(|(err, _)| match err {
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => LogError::QueueFull,
            other => LogError::Unavailable(other.to_string()),
        })
    }

    async fn send(&self, topic: &str, key: &[u8], payload: &[u8], timeout: Duration) -> Result<(), LogError> {
        let record = FutureRecord::to(topic).key(key).payload(payload);
        self.reliable.send(record, timeout).await.map(|_| ()).map_err(|(err, _)| unavailable(err))
    }

    async fn subscribe(&self, group: &str, topic: &str) -> Result<Box<dyn LogConsumer>, LogError> {
        let consumer: StreamConsumer = consumer_config(&self.config, group).create().map_err(unavailable)?;
        consumer.subscribe(&[topic]).map_err(unavailable)?;
        Ok(Box::new(KafkaConsumer { consumer: Arc::new(consumer), topic: topic.to_owned() }))
    }

    fn flush(&self, timeout: Duration) {
        if let Err(err) = self.fast.flush(timeout) {
            tracing::warn!(cause = %err, "messages still queued at shutdown");
        }
    }

    fn backend(&self) -> &'static str {
        "kafka"
    }
}

struct KafkaConsumer {
    consumer: Arc<StreamConsumer>,
    topic: String,
}

#[async_trait]
impl LogConsumer for KafkaConsumer {
    async fn next(&mut self) -> Result<LogMessage, LogError> {
        let message = self.consumer.recv().await.map_err(unavailable)?;
        Ok(LogMessage {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec).unwrap_or_default(),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        })
    }

    fn committer(&self) -> Arc<dyn OffsetCommitter> {
        Arc::new(KafkaCommitter { consumer: self.consumer.clone(), topic: self.topic.clone() })
    }
}

struct KafkaCommitter {
    consumer: Arc<StreamConsumer>,
    topic: String,
}

impl KafkaCommitter {
    fn offsets(&self, offsets: &[(i32, i64)]) -> Result<TopicPartitionList, LogError> {
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            list.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset))
                .map_err(|err| LogError::Invalid(err.to_string()))?;
        }
        Ok(list)
    }
}

#[async_trait]
impl OffsetCommitter for KafkaCommitter {
    async fn commit(&self, offsets: &[(i32, i64)]) -> Result<(), LogError> {
        if offsets.is_empty() {
            return Ok(());
        }
        self.consumer.commit(&self.offsets(offsets)?, CommitMode::Async).map_err(unavailable)
    }

    async fn commit_and_wait(&self, offsets: &[(i32, i64)]) -> Result<(), LogError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let list = self.offsets(offsets)?;
        let consumer = self.consumer.clone();
        // A synchronous commit blocks its thread until the broker answers.
        tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
            .await
            .map_err(|err| LogError::Unavailable(err.to_string()))?
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        kafka: KafkaConfig,
    }

    #[test]
    fn tls_without_the_feature_names_the_fix() {
        let args = Args::try_parse_from(["t", "--kafka-security-protocol", "sasl-ssl"]).unwrap();
        let checked = check_tls_support(&args.kafka);
        if cfg!(feature = "kafka-tls") {
            assert!(checked.is_ok());
        } else {
            assert!(checked.unwrap_err().to_string().contains("--features kafka-tls"));
        }
        let plain = Args::try_parse_from(["t"]).unwrap();
        assert!(check_tls_support(&plain.kafka).is_ok());
    }
}
