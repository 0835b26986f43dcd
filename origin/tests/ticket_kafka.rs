//! The TicketWorker on a real Kafka broker and PostgreSQL. It emails every ticket of the topic
//! and commits past what it handled, an unreadable message included. A second consumer group
//! that reads the whole topic again from offset 0 sends no second email.
//!
//! Each test uses fresh topics and consumer groups on `ONSALE_TEST_KAFKA_BROKERS`. Start the
//! broker and PostgreSQL with `scripts/services.sh start`.

mod ticket_support;

use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use onsale_origin::cli::TicketArgs;
use onsale_origin::config::KafkaConfig;
use onsale_origin::db::SharedDatabase;
use onsale_origin::mail;
use onsale_origin::pipeline::log::kafka;
use onsale_origin::pipeline::messages::event_key;
use onsale_origin::workers::ticket;
use onsale_shared::TicketId;

use ticket_support::{
    FakeSmtp, Fixture, TestDatabase, eml_files, eventually, insert_order, random_suffix, temporary_mail_dir,
    ticket_args,
};

const SEATS: [u32; 6] = [0, 1, 2, 3, 4, 5];

/// The partition of an event's ticket messages, and the offset one past its last message.
#[derive(Debug, Clone, Copy)]
struct TopicEnd {
    partition: i32,
    end: i64,
}

/// Creates the topics and produces an unreadable message, then one message per ticket, all
/// keyed by the event so they share a partition. Returns where the last message landed.
async fn produce_tickets(config: &KafkaConfig, fixture: &Fixture) -> TopicEnd {
    let (failures, _) = tokio::sync::mpsc::channel(1);
    let log = onsale_origin::pipeline::log::open(config, failures).expect("open the event log");
    log.ensure_topics(&[config.seat_topic.as_str(), config.ticket_topic.as_str()], config.partitions)
        .await
        .expect("create topics on the Kafka broker at ONSALE_TEST_KAFKA_BROKERS");
    let producer: FutureProducer = kafka::base_config(config).set("acks", "all").create().expect("producer");
    let key = event_key(fixture.event);
    let mut payloads = vec![b"{not a ticket message".to_vec()];
    payloads.extend(fixture.tickets.iter().map(|message| serde_json::to_vec(message).unwrap()));
    let mut last = None;
    for payload in payloads {
        let delivered = producer
            .send(FutureRecord::to(&config.ticket_topic).key(&key).payload(&payload), Duration::from_secs(10))
            .await
            .map_err(|(err, _)| err)
            .expect("produce a ticket message");
        last = Some(delivered);
    }
    let delivered = last.expect("messages produced");
    TopicEnd { partition: delivered.partition, end: delivered.offset + 1 }
}

/// Runs `onsale worker ticket` with `args` until the returned token is cancelled.
fn start_worker(args: &TicketArgs, db: &SharedDatabase) -> (CancellationToken, JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let kafka = args.kafka.clone();
    let tickets = args.tickets.clone();
    let db = db.clone();
    let stop = shutdown.clone();
    let (failures, _) = tokio::sync::mpsc::channel(1);
    let log = onsale_origin::pipeline::log::open(&kafka, failures).expect("open the event log");
    let task =
        tokio::spawn(async move { ticket::run(log, &kafka, &tickets, db, stop).await.expect("ticket worker runs") });
    (shutdown, task)
}

/// Reads the offset that the worker's consumer group committed on the tickets' partition.
async fn committed_offset(config: &KafkaConfig, partition: i32) -> Option<i64> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = kafka::base_config(&config)
            .set("group.id", format!("{}.ticket", config.group_prefix))
            .set("enable.auto.commit", "false")
            .create()
            .expect("offset reader");
        let mut partitions = TopicPartitionList::new();
        partitions.add_partition(&config.ticket_topic, partition);
        let committed = consumer.committed_offsets(partitions, Duration::from_secs(5)).ok()?;
        match committed.find_partition(&config.ticket_topic, partition)?.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        }
    })
    .await
    .expect("offset reader task")
}

/// Returns whether the worker's consumer group committed the tickets' partition up to its end,
/// which it does only after handling or skipping every message.
async fn committed_to_end(config: &KafkaConfig, topic_end: TopicEnd) -> bool {
    committed_offset(config, topic_end.partition).await == Some(topic_end.end)
}

async fn emailed_at_of_all(db: &PgPool, tickets: &[TicketId]) -> Vec<Option<chrono::DateTime<chrono::Utc>>> {
    let mut values = Vec::new();
    for ticket in tickets {
        let (_, _, emailed_at) = ticket_support::ticket_state(db, *ticket).await;
        values.push(emailed_at);
    }
    values
}

/// Runs a worker until every ticket is emailed and its group committed to the end of the topic.
async fn run_until_done(
    args: &TicketArgs,
    db: &SharedDatabase,
    topic_end: TopicEnd,
    done: impl AsyncFn() -> bool,
    what: &str,
) {
    let (shutdown, task) = start_worker(args, db);
    eventually(Duration::from_secs(90), what, || async { done().await.then_some(()) }).await;
    eventually(Duration::from_secs(30), "offsets committed to the end of the topic", || async {
        committed_to_end(&args.kafka, topic_end).await.then_some(())
    })
    .await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(40), task).await.expect("worker stops").unwrap();
}

fn mail_files_unchanged(dir: &Path, before: &[(String, Vec<u8>)]) {
    let after: Vec<(String, Vec<u8>)> =
        eml_files(dir).into_iter().map(|name| (name.clone(), std::fs::read(dir.join(&name)).unwrap())).collect();
    assert_eq!(after.len(), before.len(), "still one file per ticket");
    assert!(after == before, "no .eml file was rewritten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_topic_writes_no_second_file() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &SEATS).await;
    let tickets: Vec<TicketId> = fixture.tickets.iter().map(|message| message.ticket_id).collect();
    let dir = temporary_mail_dir();
    let suffix = random_suffix();
    let first = ticket_args(&suffix, &dir, None);
    let topic_end = produce_tickets(&first.kafka, &fixture).await;

    run_until_done(
        &first,
        &db.database,
        topic_end,
        async || {
            eml_files(&dir).len() == tickets.len()
                && emailed_at_of_all(&db.pool, &tickets).await.iter().all(Option::is_some)
        },
        "an .eml file for every ticket",
    )
    .await;
    let mut expected: Vec<String> = tickets.iter().map(|ticket| mail::eml_file_name(*ticket)).collect();
    expected.sort();
    assert_eq!(eml_files(&dir), expected);
    let files: Vec<(String, Vec<u8>)> =
        expected.iter().map(|name| (name.clone(), std::fs::read(dir.join(name)).unwrap())).collect();
    let emailed_at = emailed_at_of_all(&db.pool, &tickets).await;

    // A new consumer group on the same topic starts at offset 0 and reads every message again.
    let mut replay = ticket_args(&suffix, &dir, None);
    replay.kafka.group_prefix = format!("test.{suffix}.replay");
    run_until_done(&replay, &db.database, topic_end, async || true, "the replay worker").await;

    mail_files_unchanged(&dir, &files);
    assert_eq!(emailed_at_of_all(&db.pool, &tickets).await, emailed_at, "emailed_at is set once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_topic_sends_no_second_smtp_email() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &SEATS).await;
    let tickets: Vec<TicketId> = fixture.tickets.iter().map(|message| message.ticket_id).collect();
    let smtp = FakeSmtp::start().await;
    let dir = temporary_mail_dir();
    let suffix = random_suffix();
    let first = ticket_args(&suffix, &dir, Some(smtp.url()));
    let topic_end = produce_tickets(&first.kafka, &fixture).await;

    run_until_done(
        &first,
        &db.database,
        topic_end,
        async || smtp.received().len() >= tickets.len(),
        "an email for every ticket",
    )
    .await;
    assert_eq!(smtp.received().len(), tickets.len());
    let emailed_at = emailed_at_of_all(&db.pool, &tickets).await;
    assert!(emailed_at.iter().all(Option::is_some));

    let mut replay = ticket_args(&suffix, &dir, Some(smtp.url()));
    replay.kafka.group_prefix = format!("test.{suffix}.replay");
    run_until_done(&replay, &db.database, topic_end, async || true, "the replay worker").await;

    assert_eq!(smtp.received().len(), tickets.len(), "the replay sends no email");
    assert_eq!(emailed_at_of_all(&db.pool, &tickets).await, emailed_at);
    assert!(eml_files(&dir).is_empty(), "with SMTP configured nothing goes to the mail directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_outage_holds_back_offsets() {
    let db = TestDatabase::create().await;
    let fixture = insert_order(&db.pool, &SEATS).await;
    let tickets: Vec<TicketId> = fixture.tickets.iter().map(|message| message.ticket_id).collect();
    let smtp = FakeSmtp::start().await;
    smtp.fail_with(Some("451 4.3.0 Try again later"));
    let args = ticket_args(&random_suffix(), &temporary_mail_dir(), Some(smtp.url()));
    let topic_end = produce_tickets(&args.kafka, &fixture).await;
    let first_ticket_offset = topic_end.end - tickets.len() as i64;

    let (shutdown, task) = start_worker(&args, &db.database);
    eventually(Duration::from_secs(60), "an attempt at every ticket", || async {
        (smtp.rejected() >= tickets.len() as u32).then_some(())
    })
    .await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(40), task).await.expect("worker stops").unwrap();

    assert_eq!(
        committed_offset(&args.kafka, topic_end.partition).await,
        Some(first_ticket_offset),
        "the unreadable message is committed, and no unsent ticket is"
    );
    assert!(smtp.received().is_empty());
    for ticket in &tickets {
        let (_, claimed_at, emailed_at) = ticket_support::ticket_state(&db.pool, *ticket).await;
        assert_eq!(claimed_at, None, "a failed send releases its claim");
        assert_eq!(emailed_at, None);
    }

    // A restarted worker in the same group resumes at the first unsent ticket.
    smtp.fail_with(None);
    run_until_done(
        &args,
        &db.database,
        topic_end,
        async || smtp.received().len() >= tickets.len(),
        "every ticket sent",
    )
    .await;
    assert_eq!(smtp.received().len(), tickets.len());
    assert!(emailed_at_of_all(&db.pool, &tickets).await.iter().all(Option::is_some));
}
