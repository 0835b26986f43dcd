//! Contract tests of the event log: every contract runs against the in-process log and the
//! Kafka broker at `ONSALE_TEST_KAFKA_BROKERS` (default 127.0.0.1:9092).

use std::time::Duration;

use clap::Parser;
use tokio::sync::mpsc;

use onsale_origin::config::KafkaConfig;
use onsale_origin::pipeline::log::{self, LogConsumer, LogMessage, SharedLog};

#[derive(Parser)]
struct KafkaArgs {
    #[command(flatten)]
    kafka: KafkaConfig,
}

fn suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn open(brokers: &str) -> SharedLog {
    let config =
        KafkaArgs::try_parse_from(["log", "--kafka-brokers", brokers, "--kafka-partitions", "3"]).unwrap().kafka;
    let (failures, _) = mpsc::channel(16);
    log::open(&config, failures).expect("open the event log")
}

/// A topic of its own for one test, created with three partitions.
async fn topic(log: &SharedLog) -> String {
    let name = format!("contract.{}", suffix());
    log.ensure_topics(&[name.as_str()], 3).await.expect("create the topic");
    name
}

async fn next(consumer: &mut Box<dyn LogConsumer>) -> LogMessage {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match consumer.next().await {
                Ok(message) => return message,
                // Transient by contract: a consumer joining a group may see a few of these.
                Err(err) => tracing::debug!(cause = %err, "transient consumer error"),
            }
        }
    })
    .await
    .expect("a message within 30 s")
}

async fn one_key_keeps_its_order(log: SharedLog) {
    let topic = topic(&log).await;
    for i in 0..50u8 {
        log.publish(&topic, b"event-1", &[i]).unwrap();
        log.publish(&topic, b"event-2", &[100 + i]).unwrap();
    }
    let mut consumer = log.subscribe(&format!("g.{}", suffix()), &topic).await.unwrap();
    let mut first = Vec::new();
    let mut second = Vec::new();
    while first.len() + second.len() < 100 {
        let message = next(&mut consumer).await;
        match message.key.as_slice() {
            b"event-1" => first.push(message.payload[0]),
            b"event-2" => second.push(message.payload[0]),
            other => panic!("unexpected key {other:?}"),
        }
    }
    assert_eq!(first, (0..50).collect::<Vec<u8>>());
    assert_eq!(second, (100..150).collect::<Vec<u8>>());
}

async fn offsets_grow_within_a_partition(log: SharedLog) {
    let topic = topic(&log).await;
    for i in 0..10u8 {
        log.send(&topic, b"k", &[i], Duration::from_secs(10)).await.unwrap();
    }
    let mut consumer = log.subscribe(&format!("g.{}", suffix()), &topic).await.unwrap();
    let mut last: Option<(i32, i64)> = None;
    for _ in 0..10 {
        let message = next(&mut consumer).await;
        if let Some((partition, offset)) = last {
            assert_eq!(message.partition, partition, "one key, one partition");
            assert_eq!(message.offset, offset + 1);
        }
        last = Some((message.partition, message.offset));
    }
}

async fn restart_resumes_after_the_commit(log: SharedLog) {
    let topic = topic(&log).await;
    for i in 0..6u8 {
        log.send(&topic, b"k", &[i], Duration::from_secs(10)).await.unwrap();
    }
    let group = format!("g.{}", suffix());
    let mut consumer = log.subscribe(&group, &topic).await.unwrap();
    let mut last = None;
    for expected in 0..3u8 {
        let message = next(&mut consumer).await;
        assert_eq!(message.payload, vec![expected]);
        last = Some(message);
    }
    let last = last.unwrap();
    consumer.commit(&[(last.partition, last.offset + 1)]).await.unwrap();
    // Read one more without committing it: a new member must get it again.
    assert_eq!(next(&mut consumer).await.payload, vec![3]);
    // Kafka commits asynchronously; give it a moment before the member leaves.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(consumer);

    let mut again = log.subscribe(&group, &topic).await.unwrap();
    assert_eq!(next(&mut again).await.payload, vec![3]);
    assert_eq!(next(&mut again).await.payload, vec![4]);
}

async fn new_group_reads_from_the_start(log: SharedLog) {
    let topic = topic(&log).await;
    log.send(&topic, b"k", b"first", Duration::from_secs(10)).await.unwrap();
    let mut one = log.subscribe(&format!("g.{}", suffix()), &topic).await.unwrap();
    assert_eq!(next(&mut one).await.payload, b"first".to_vec());
    let mut two = log.subscribe(&format!("g.{}", suffix()), &topic).await.unwrap();
    assert_eq!(next(&mut two).await.payload, b"first".to_vec());
}

async fn ensure_topics_is_idempotent(log: SharedLog) {
    let name = format!("contract.{}", suffix());
    log.ensure_topics(&[name.as_str()], 3).await.unwrap();
    log.ensure_topics(&[name.as_str()], 3).await.unwrap();
    log.send(&name, b"k", b"v", Duration::from_secs(10)).await.unwrap();
}

macro_rules! contracts {
    ($backend:ident, $brokers:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn one_key_keeps_its_order() {
                super::one_key_keeps_its_order(open(&$brokers)).await;
            }

            #[tokio::test]
            async fn offsets_grow_within_a_partition() {
                super::offsets_grow_within_a_partition(open(&$brokers)).await;
            }

            #[tokio::test]
            async fn restart_resumes_after_the_commit() {
                super::restart_resumes_after_the_commit(open(&$brokers)).await;
            }

            #[tokio::test]
            async fn new_group_reads_from_the_start() {
                super::new_group_reads_from_the_start(open(&$brokers)).await;
            }

            #[tokio::test]
            async fn ensure_topics_is_idempotent() {
                super::ensure_topics_is_idempotent(open(&$brokers)).await;
            }
        }
    };
}

contracts!(memory, String::from("memory://"));
contracts!(kafka, std::env::var("ONSALE_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned()));
