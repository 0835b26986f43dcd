//! Measures the Kafka round trip that onsale's seat-change pipeline rides on: one producer and
//! one consumer in this process, on a scratch topic of the broker at `--brokers`. It reports the
//! send-to-receive latency of each message and the throughput from the first send to the last
//! receive, as one JSON object on stdout and a short summary on stderr.
//!
//! - Default, open loop: `--messages` messages of `--message-bytes` bytes at a fixed `--rate`,
//!   each sent on schedule whether or not the earlier ones have arrived.
//! - `--max-rate`: the same messages as fast as the producer takes them, for messages per second
//!   end to end.
//!
//! Run: `cargo run -q -p onsale-origin --example kafka_round_trip -- --brokers 127.0.0.1:9092`.
//! `bench/engine-ceilings.sh --kafka HOST:PORT` runs it in both modes and merges the figures
//! into its JSON. bench/README.md explains the output.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use serde_json::json;

use onsale_origin::config::KafkaConfig;
use onsale_origin::pipeline::log::kafka;

/// Payload layout: kind (1 byte), sequence number (u64), send time (u64 ns since the run's
/// start), then filler up to `--message-bytes`.
const HEADER_BYTES: usize = 17;
const KIND_WARM_UP: u8 = 0;
const KIND_MEASURED: u8 = 1;
/// How often warm-up messages go out until the first one comes back.
const WARM_UP_INTERVAL: Duration = Duration::from_millis(100);
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(30);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Latencies above this are recorded as this value. The summary shows the true maximum.
const HISTOGRAM_MAX_MICROS: u64 = 3_600_000_000;

#[derive(Parser)]
#[command(about = "Measure the send-to-receive latency and throughput of a Kafka broker, on a scratch topic")]
struct Args {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Measured messages to send, after the warm-up.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    messages: u64,
    /// Send rate of the open-loop mode, in messages per second.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..))]
    rate: u32,
    /// Send as fast as the producer accepts messages, ignoring --rate.
    #[arg(long)]
    max_rate: bool,
    /// Payload size of each message in bytes, at least 17 (the sequence number and send time).
    #[arg(long, default_value_t = 100)]
    message_bytes: usize,
    /// Producer settings: `latency` is acks=all with linger.ms=0. `publish` and `send` are the
    /// origin's own producers of EventLog::publish (seat changes) and EventLog::send.
    #[arg(long, value_enum, default_value_t = ProducerSettings::Latency)]
    producer: ProducerSettings,
    /// The consumer's fetch.wait.max.ms, in milliseconds. Default: the origin's consumer setting.
    #[arg(long)]
    fetch_wait_max_ms: Option<u32>,
    /// Partitions of the scratch topic.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Replication factor of the scratch topic.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    replication: i32,
    /// How long to wait, in seconds, for the producer to deliver the last messages, and then as
    /// long again for the consumer to receive them.
    #[arg(long, default_value_t = 30)]
    drain_timeout_secs: u64,
    /// Leave the scratch topic on the broker at the end. Use it on tansu 0.6 without the trigger
    /// that scripts/services.sh installs, where deleting one topic deletes every topic.
    #[arg(long)]
    keep_topic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProducerSettings {
    Latency,
    Publish,
    Send,
}

impl ProducerSettings {
    fn name(self) -> &'static str {
        match self {
            ProducerSettings::Latency => "latency",
            ProducerSettings::Publish => "publish",
            ProducerSettings::Send => "send",
        }
    }

    fn client_config(self, kafka_config: &KafkaConfig) -> ClientConfig {
        match self {
            ProducerSettings::Latency => {
                let mut client = kafka::base_config(kafka_config);
                client.set("acks", "all").set("linger.ms", "0");
                client
            }
            ProducerSettings::Publish => kafka::publish_producer_config(kafka_config),
            ProducerSettings::Send => kafka::send_producer_config(kafka_config),
        }
    }
}

/// Parses the origin's Kafka options from the environment alone (`ONSALE_KAFKA_*`, else their
/// defaults), so that `publish` and `send` get the same settings as an origin started with the
/// same environment. `--brokers` then replaces the broker list.
#[derive(Parser)]
struct OriginKafkaOptions {
    #[command(flatten)]
    kafka: KafkaConfig,
}

/// Counts the producer's deliveries. Callbacks run on the producer's polling thread.
#[derive(Default)]
struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
    /// Set by the first failure, so the summary can show one cause.
    first_failure: std::sync::Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                first.get_or_insert_with(|| err.to_string());
            }
        }
    }
}

/// Counts and latencies of the messages that the consumer thread read.
struct Received {
    latencies: Histogram<u64>,
    max_latency: Duration,
    count: u64,
    duplicates: u64,
    errors: u64,
    first_error: Option<String>,
    last_receive: Option<Instant>,
}

/// Timing of the producer loop.
struct Sent {
    first_send: Instant,
    last_send: Instant,
    /// How far the open-loop schedule's worst send came after its planned time.
    max_behind: Duration,
    queue_full_retries: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.message_bytes < HEADER_BYTES {
        bail!("--message-bytes must be at least {HEADER_BYTES}, got {}", args.message_bytes);
    }
    let mut kafka_config = OriginKafkaOptions::try_parse_from(["kafka_round_trip"])
        .context("reading the origin's ONSALE_KAFKA_* settings failed")?
        .kafka;
    kafka_config.brokers = Some(args.brokers.clone());

    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let topic = format!("onsale-bench-round-trip-{}", &run_id[..12]);
    let admin: AdminClient<DefaultClientContext> =
        kafka::base_config(&kafka_config).create().context("creating the Kafka admin client failed")?;
    create_topic(&admin, &topic, args.partitions, args.replication)?;
    eprintln!("kafka_round_trip: created topic {topic} on {}", args.brokers);

    let measured = measure(&args, &kafka_config, &topic, &run_id);

    if args.keep_topic {
        eprintln!("kafka_round_trip: kept topic {topic} (--keep-topic)");
    } else if let Err(err) = delete_topic(&admin, &topic) {
        eprintln!("kafka_round_trip: deleting topic {topic} failed: {err:#}. Delete it by hand.");
    }

    let report = measured?;
    println!("{report}");
    let lost = report["lost"].as_u64().unwrap_or(0);
    if lost > 0 {
        bail!(
            "{lost} of {} messages did not arrive within --drain-timeout-secs {}, so the figures above leave them out",
            args.messages,
            args.drain_timeout_secs
        );
    }
    Ok(())
}

fn create_topic(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<()> {
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = futures::executor::block_on(admin.create_topics([&new_topic], &options))
        .with_context(|| format!("creating topic {topic} failed; is a broker listening at --brokers?"))?;
    for result in results {
        if let Err((name, code)) = result {
            bail!("creating topic {name} failed: {code}");
        }
    }
    Ok(())
}

fn delete_topic(admin: &AdminClient<DefaultClientContext>, topic: &str) -> anyhow::Result<()> {
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = futures::executor::block_on(admin.delete_topics(&[topic], &options))?;
    for result in results {
        if let Err((name, code)) = result {
            bail!("the broker rejected deleting {name}: {code}");
        }
    }
    Ok(())
}

/// Runs the warm-up and the measured messages, and returns the JSON report.
fn measure(args: &Args, kafka_config: &KafkaConfig, topic: &str, run_id: &str) -> anyhow::Result<serde_json::Value> {
    let producer_config = args.producer.client_config(kafka_config);
    let producer: ThreadedProducer<DeliveryCounter> = producer_config
        .create_with_context(DeliveryCounter::default())
        .context("creating the Kafka producer failed")?;

    let mut consumer_config = kafka::consumer_config(kafka_config, &format!("onsale-bench-round-trip-{run_id}"));
    if let Some(wait) = args.fetch_wait_max_ms {
        consumer_config.set("fetch.wait.max.ms", wait.to_string());
    }
    let consumer: BaseConsumer = consumer_config.create().context("creating the Kafka consumer failed")?;
    // Assigned partitions read from the start with no consumer-group rebalance to wait for.
    let mut assignment = TopicPartitionList::new();
    for partition in 0..args.partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment).context("assigning the scratch topic's partitions failed")?;

    let epoch = Instant::now();
    let warmed_up = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let consumer_thread = {
        let (warmed_up, stop, expected) = (warmed_up.clone(), stop.clone(), args.messages);
        thread::spawn(move || consume(&consumer, epoch, expected, &warmed_up, &stop))
    };

    let mut payload = vec![b'x'; args.message_bytes];
    let warm_up_started = Instant::now();
    let mut warm_up_count = 0u64;
    while !warmed_up.load(Ordering::Acquire) {
        if warm_up_started.elapsed() > WARM_UP_TIMEOUT {
            stop.store(true, Ordering::Release);
            let received = consumer_thread.join().expect("the consumer thread panicked");
            let cause = received.first_error.or_else(|| first_delivery_failure(&producer));
            bail!(
                "no warm-up message came back within {WARM_UP_TIMEOUT:?} (last error: {}); check the broker at {}",
                cause.as_deref().unwrap_or("none"),
                args.brokers
            );
        }
        write_header(&mut payload, KIND_WARM_UP, warm_up_count, epoch.elapsed());
        let key = warm_up_count.to_string();
        send_with_retry(&producer, topic, key.as_bytes(), &payload);
        warm_up_count += 1;
        thread::sleep(WARM_UP_INTERVAL);
    }
    eprintln!(
        "kafka_round_trip: warm-up done after {warm_up_count} message(s) in {:.1} s; sending {} messages {}",
        warm_up_started.elapsed().as_secs_f64(),
        args.messages,
        if args.max_rate { "as fast as possible".to_owned() } else { format!("at {}/s", args.rate) },
    );

    let sent = produce(args, &producer, topic, epoch, &mut payload);
    let drain_timeout = Duration::from_secs(args.drain_timeout_secs);
    if let Err(err) = producer.flush(drain_timeout) {
        eprintln!("kafka_round_trip: flushing the producer failed: {err}");
    }
    let drain_deadline = Instant::now() + drain_timeout;
    while !consumer_thread.is_finished() && Instant::now() < drain_deadline {
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Release);
    let received = consumer_thread.join().expect("the consumer thread panicked");

    Ok(report(args, &producer_config, &consumer_config, &producer, &sent, &received))
}

/// Sends the measured messages, on the open-loop schedule or as fast as possible.
fn produce(
    args: &Args,
    producer: &ThreadedProducer<DeliveryCounter>,
    topic: &str,
    epoch: Instant,
    payload: &mut [u8],
) -> Sent {
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let start = Instant::now();
    let mut max_behind = Duration::ZERO;
    let mut queue_full_retries = 0;
    let mut last_send = start;
    for sequence in 0..args.messages {
        if !args.max_rate {
            let planned = start + interval.mul_f64(sequence as f64);
            let now = Instant::now();
            if planned > now {
                thread::sleep(planned - now);
            } else {
                max_behind = max_behind.max(now - planned);
            }
        }
        last_send = Instant::now();
        write_header(payload, KIND_MEASURED, sequence, last_send - epoch);
        let key = sequence.to_string();
        queue_full_retries += send_with_retry(producer, topic, key.as_bytes(), payload);
    }
    Sent { first_send: start, last_send, max_behind, queue_full_retries }
}

/// Queues one message, waiting while the producer's local queue is full. Returns the number of
/// retries. Any other error is counted as a failed delivery.
fn send_with_retry(producer: &ThreadedProducer<DeliveryCounter>, topic: &str, key: &[u8], payload: &[u8]) -> u64 {
    let mut retries = 0;
    loop {
        match producer.send(BaseRecord::to(topic).key(key).payload(payload)) {
            Ok(()) => return retries,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                retries += 1;
                thread::sleep(Duration::from_millis(1));
            }
            Err((err, _)) => {
                let context = producer.context();
                context.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = context.first_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                first.get_or_insert_with(|| err.to_string());
                return retries;
            }
        }
    }
}

fn first_delivery_failure(producer: &ThreadedProducer<DeliveryCounter>) -> Option<String> {
    producer.context().first_failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

fn write_header(payload: &mut [u8], kind: u8, sequence: u64, since_epoch: Duration) {
    payload[0] = kind;
    payload[1..9].copy_from_slice(&sequence.to_le_bytes());
    payload[9..17].copy_from_slice(&(since_epoch.as_nanos() as u64).to_le_bytes());
}

/// Reads messages until `expected` measured ones arrived or `stop` is set. Sets `warmed_up` at
/// the first warm-up message.
fn consume(
    consumer: &BaseConsumer,
    epoch: Instant,
    expected: u64,
    warmed_up: &AtomicBool,
    stop: &AtomicBool,
) -> Received {
    let mut received = Received {
        latencies: Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).expect("valid histogram bounds"),
        max_latency: Duration::ZERO,
        count: 0,
        duplicates: 0,
        errors: 0,
        first_error: None,
        last_receive: None,
    };
    let mut seen = vec![false; expected as usize];
    while received.count < expected && !stop.load(Ordering::Acquire) {
        let Some(result) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let now = Instant::now();
        let message = match result {
            Ok(message) => message,
            Err(err) => {
                received.errors += 1;
                received.first_error.get_or_insert_with(|| err.to_string());
                continue;
            }
        };
        let Some(payload) = message.payload().filter(|payload| payload.len() >= HEADER_BYTES) else {
            received.errors += 1;
            received.first_error.get_or_insert_with(|| "a message without the benchmark's header".to_owned());
            continue;
        };
        if payload[0] == KIND_WARM_UP {
            warmed_up.store(true, Ordering::Release);
            continue;
        }
        let sequence = u64::from_le_bytes(payload[1..9].try_into().expect("8 bytes"));
        let sent_at = epoch + Duration::from_nanos(u64::from_le_bytes(payload[9..17].try_into().expect("8 bytes")));
        let Some(slot) = seen.get_mut(sequence as usize) else {
            received.errors += 1;
            received.first_error.get_or_insert_with(|| format!("sequence number {sequence} out of range"));
            continue;
        };
        if *slot {
            received.duplicates += 1;
            continue;
        }
        *slot = true;
        let latency = now.saturating_duration_since(sent_at);
        received.latencies.saturating_record(latency.as_micros() as u64);
        received.max_latency = received.max_latency.max(latency);
        received.count += 1;
        received.last_receive = Some(now);
    }
    received
}

fn milliseconds(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn per_second(count: u64, span: Duration) -> f64 {
    if span.is_zero() { 0.0 } else { (count as f64 / span.as_secs_f64() * 10.0).round() / 10.0 }
}

fn setting<'a>(config: &'a ClientConfig, key: &str, librdkafka_default: &'a str) -> &'a str {
    config.get(key).unwrap_or(librdkafka_default)
}

fn report(
    args: &Args,
    producer_config: &ClientConfig,
    consumer_config: &ClientConfig,
    producer: &ThreadedProducer<DeliveryCounter>,
    sent: &Sent,
    received: &Received,
) -> serde_json::Value {
    let counter = producer.context();
    let latencies = &received.latencies;
    let send_span = sent.last_send - sent.first_send;
    let end_to_end_span = received.last_receive.map(|at| at - sent.first_send).unwrap_or_default();
    let lost = args.messages - received.count;
    let (p50, p90, p99) = (
        milliseconds(latencies.value_at_quantile(0.50)),
        milliseconds(latencies.value_at_quantile(0.90)),
        milliseconds(latencies.value_at_quantile(0.99)),
    );
    let max = (received.max_latency.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let end_to_end_per_s = per_second(received.count, end_to_end_span);

    eprintln!(
        "kafka_round_trip: {} of {} messages received, latency p50 {p50} ms, p90 {p90} ms, p99 {p99} ms, max {max} ms; \
         {end_to_end_per_s} messages/s end to end ({} producer settings, fetch.wait.max.ms={})",
        received.count,
        args.messages,
        args.producer.name(),
        setting(consumer_config, "fetch.wait.max.ms", "500"),
    );
    if !args.max_rate && end_to_end_per_s < 0.95 * f64::from(args.rate) {
        eprintln!(
            "kafka_round_trip: the broker delivered {end_to_end_per_s} messages/s of the {} sent per second, so the \
             latencies above include the backlog that built up; lower --rate to measure the latency without it",
            args.rate
        );
    }
    if lost > 0 || received.duplicates > 0 || received.errors > 0 {
        eprintln!(
            "kafka_round_trip: {lost} lost, {} duplicates, {} consumer errors (first: {}), {} failed deliveries (first: {})",
            received.duplicates,
            received.errors,
            received.first_error.as_deref().unwrap_or("none"),
            counter.failed.load(Ordering::Relaxed),
            first_delivery_failure(producer).as_deref().unwrap_or("none"),
        );
    }

    // Flat keys, so that bench/engine-ceilings.sh can read each field with sed.
    json!({
        "mode": if args.max_rate { "max_rate" } else { "rate" },
        "brokers": args.brokers,
        "producer": args.producer.name(),
        "acks": setting(producer_config, "acks", "all"),
        "linger_ms": setting(producer_config, "linger.ms", "5"),
        "compression": setting(producer_config, "compression.type", "none"),
        "idempotence": setting(producer_config, "enable.idempotence", "false"),
        "fetch_wait_max_ms": setting(consumer_config, "fetch.wait.max.ms", "500"),
        "fetch_min_bytes": setting(consumer_config, "fetch.min.bytes", "1"),
        "isolation_level": setting(consumer_config, "isolation.level", "read_committed"),
        "partitions": args.partitions,
        "messages": args.messages,
        "message_bytes": args.message_bytes,
        "target_per_s": if args.max_rate { None } else { Some(args.rate) },
        "sent_per_s": per_second(args.messages, send_span),
        "producer_max_behind_ms": (sent.max_behind.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        "queue_full_retries": sent.queue_full_retries,
        "received": received.count,
        "lost": lost,
        "duplicates": received.duplicates,
        "consumer_errors": received.errors,
        "delivered": counter.delivered.load(Ordering::Relaxed),
        "delivery_failures": counter.failed.load(Ordering::Relaxed),
        "end_to_end_per_s": end_to_end_per_s,
        "latency_p50_ms": p50,
        "latency_p90_ms": p90,
        "latency_p99_ms": p99,
        "latency_max_ms": max,
    })
}
