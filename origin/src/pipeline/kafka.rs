//! Kafka client settings shared by producers and consumers, and topic creation.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::StreamConsumer;
use rdkafka::error::RDKafkaErrorCode;

use crate::config::KafkaConfig;

/// Settings every client of ours shares.
pub fn base_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", "onsale")
        // Keep reconnect attempts frequent, so the pipeline resumes within a second of the broker.
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "1000")
        .set("socket.keepalive.enable", "true");
    client
}

/// A consumer in `group` that commits offsets only when told to.
pub fn consumer(config: &KafkaConfig, group: &str) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = base_config(config)
        .set("group.id", format!("{}.{group}", config.group_prefix))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        // Fetch as soon as any byte is there: bitmap staleness is the consumer's wait plus lag.
        .set("fetch.wait.max.ms", "10")
        .set("fetch.min.bytes", "1")
        // We write no transactions, so this reads the same messages as read_committed on Kafka.
        // tansu 0.6 on PostgreSQL 15 fails the query behind read_committed's offset lookup.
        .set("isolation.level", "read_uncommitted")
        .create()?;
    Ok(consumer)
}

/// Creates the seat-change and ticket topics if they do not exist.
pub async fn ensure_topics(config: &KafkaConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = base_config(config).create()?;
    let topics = [
        NewTopic::new(&config.seat_topic, config.partitions, TopicReplication::Fixed(config.replication)),
        NewTopic::new(&config.ticket_topic, config.partitions, TopicReplication::Fixed(config.replication)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics(&topics, &options).await?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, "created Kafka topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => tracing::debug!(topic, "Kafka topic exists"),
            Err((topic, code)) => anyhow::bail!("creating Kafka topic {topic} failed: {code}"),
        }
    }
    Ok(())
}
