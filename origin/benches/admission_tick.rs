//! Times one admission tick of 5,000 fans through the admitter's own code,
//! `Admitter::tick_event`. The tick takes or renews the queue's lease, reads the queue's meta,
//! peeks the 5,000 fans at the front and signs one admission token for each. Then the ADMIT
//! script stores the tokens and removes the fans from the queue. About one tick in ten also
//! writes the measured admission rate, as in the running admitter.
//!
//! Two figures from the same run put the tick's time in proportion:
//!
//! - the Redis floor: the tick's two large commands sent directly, with tokens signed in advance
//!   (ZRANGE of the 5,000 fans, then EVALSHA of the ADMIT script on them). It leaves out the
//!   lease script and the meta pipeline, two small round trips;
//! - signing alone: the 5,000 tokens signed on one thread, with no Redis.
//!
//! It runs once per token algorithm (Ed25519, then HS256), each on its own event whose queue
//! contains `QUEUE_DEPTH` fans throughout. After each timed step, the bench deletes the admission
//! keys it wrote and puts as many new fans at the back of the queue. It prints one JSON object on
//! stdout and a table on stderr. bench/README.md explains the output.
//!
//! Run: `ONSALE_BENCH_REDIS_URL=redis://127.0.0.1:7400 cargo bench -p onsale-origin --bench admission_tick`.
//! The URL may also list the nodes of a Redis Cluster, comma-separated, as `--redis-url` does.
//! Without `ONSALE_BENCH_REDIS_URL` the bench prints that it was skipped and exits. Every key it
//! writes is under a namespace of its own (`onsale-bench-<random>`) and is deleted at the end,
//! also after a failed step. A Redis of your own gives steadier figures than a shared one.
//!
//! NOTE: the bench's queue has one shard. With `ONSALE_REDIS_QUEUE_SHARDS` above 1, the admitter
//! peeks every shard and sends one ADMIT script per shard, in parallel. This bench does not
//! measure that tick yet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::runtime::Runtime;

use onsale_origin::clock::Clock;
use onsale_origin::config::{RedisConfig, Secret};
use onsale_origin::store::redis::admit_script_source;
use onsale_origin::store::{QueueStore, RedisStore, SharedStore, StatusOutcome};
use onsale_origin::waiting_room::admitter::{Admitter, AdmitterConfig};
use onsale_shared::api::QueueState;
use onsale_shared::token::{SigningKey, TokenAlgorithm, TokenIssuer, TokenVerifier};
use onsale_shared::{EventId, FanId};

const URL_VARIABLE: &str = "ONSALE_BENCH_REDIS_URL";
const FANS_PER_TICK: u64 = 5_000;
const TICKS: usize = 200;
const WARM_UP_TICKS: usize = 5;
/// Fans waiting in the queue during every timed step: the queue of a large onsale.
const QUEUE_DEPTH: u64 = 1_000_000;
/// The admission rate of the bench's admitter, in fans per second. A tick admits at most half a
/// second's worth, so at this rate the cap is exactly `FANS_PER_TICK`.
const ADMISSION_RATE: u32 = 2 * FANS_PER_TICK as u32;
/// The p99 that the waiting room's design sets for a tick of 5,000 fans.
const GOAL_P99_MS: f64 = 25.0;
/// Members per ZADD and keys per DEL while the bench fills the queue and cleans up.
const BATCH: u64 = 1_000;
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;

/// One event's queue, whose fans the bench names by their place in line: fan `n` joined with
/// score `n`. Fans `front..back` are waiting.
struct BenchQueue {
    store: RedisStore,
    event: EventId,
    fan_prefix: String,
    front: u64,
    back: u64,
}

impl BenchQueue {
    /// Builds the id of fan `number`, 32 characters long like the origin's own (a UUID in
    /// simple form).
    fn fan(&self, number: u64) -> FanId {
        format!("{}{number:020}", self.fan_prefix).parse().expect("fan ids of letters and digits are valid")
    }

    fn front_fans(&self) -> Vec<FanId> {
        (self.front..self.front + FANS_PER_TICK).map(|number| self.fan(number)).collect()
    }

    /// Puts fans at the back of the queue until `QUEUE_DEPTH` wait.
    async fn refill(&mut self) -> anyhow::Result<()> {
        let target = self.front + QUEUE_DEPTH;
        let queue_key = self.store.keys(self.event).queue_shard().queue();
        let mut conn = self.store.connection();
        while self.back < target {
            let end = (self.back + BATCH).min(target);
            let mut zadd = redis::cmd("ZADD");
            zadd.arg(&queue_key).arg("NX");
            for number in self.back..end {
                zadd.arg(number).arg(self.fan(number).as_str());
            }
            zadd.query_async::<()>(&mut conn).await.context("adding fans to the queue failed")?;
            self.back = end;
        }
        Ok(())
    }

    /// Checks that the step just timed admitted the `FANS_PER_TICK` fans at the front and stored a
    /// token that verifies for the first of them. Then deletes their admission keys, moves the
    /// front past them and refills the queue.
    async fn finish_step(&mut self, admitted_before: u64, verifier: &TokenVerifier, step: &str) -> anyhow::Result<()> {
        let meta = self.store.queue_meta(self.event, QueueState::Open).await?;
        let admitted = meta.admitted - admitted_before;
        ensure!(
            admitted == FANS_PER_TICK,
            "the {step} admitted {admitted} fans, expected {FANS_PER_TICK}; a warning logged above may name the cause"
        );
        ensure!(
            meta.waiting == QUEUE_DEPTH - FANS_PER_TICK,
            "{} fans wait after the {step}, expected {}",
            meta.waiting,
            QUEUE_DEPTH - FANS_PER_TICK
        );
        let first = self.fan(self.front);
        match self.store.queue_status(self.event, &first, QueueState::Open).await? {
            StatusOutcome::Admitted(admission) => {
                verifier
                    .verify_for(&admission.token, self.event, Some(&first), chrono::Utc::now())
                    .with_context(|| format!("the token the {step} stored for fan {first} does not verify"))?;
            }
            other => bail!("after the {step}, fan {first} is {other:?}, expected Admitted"),
        }
        self.delete_admissions(self.front, self.front + FANS_PER_TICK).await?;
        self.front += FANS_PER_TICK;
        self.refill().await
    }

    async fn delete_admissions(&self, from: u64, to: u64) -> anyhow::Result<()> {
        let keys = self.store.keys(self.event);
        let mut conn = self.store.connection();
        let mut start = from;
        while start < to {
            let end = (start + BATCH).min(to);
            let batch: Vec<String> =
                (start..end).map(|number| keys.queue_shard().admission(&self.fan(number))).collect();
            redis::cmd("DEL").arg(&batch).query_async::<()>(&mut conn).await?;
            start = end;
        }
        Ok(())
    }

    /// Deletes every key of the event: the queue, its meta and lease, and the admission keys of
    /// a step that failed before its own cleanup.
    async fn delete_all(&self) -> anyhow::Result<()> {
        self.delete_admissions(self.front, self.front + FANS_PER_TICK).await?;
        let keys = self.store.keys(self.event);
        let mut conn = self.store.connection();
        // The three keys share the event's hash tag, so a cluster takes them in one command.
        redis::cmd("UNLINK")
            .arg(keys.queue_shard().queue())
            .arg(keys.queue_shard().meta())
            .arg(keys.queue_shard().lease())
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }
}

/// Latencies of one kind of step, in µs.
struct Timings {
    /// Name in the table on stderr.
    name: &'static str,
    /// Prefix of the step's fields in the JSON.
    json_prefix: &'static str,
    histogram: Histogram<u64>,
}

impl Timings {
    fn new(name: &'static str, json_prefix: &'static str) -> Self {
        let histogram = Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).expect("valid histogram bounds");
        Self { name, json_prefix, histogram }
    }

    fn record(&mut self, elapsed: Duration) {
        self.histogram.saturating_record(elapsed.as_micros() as u64);
    }

    fn quantile_ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        self.histogram.max() as f64 / 1000.0
    }
}

/// The figures of one token algorithm.
struct AlgorithmResult {
    algorithm: TokenAlgorithm,
    tick: Timings,
    redis_floor: Timings,
    signing: Timings,
}

fn main() -> anyhow::Result<()> {
    let Ok(url) = std::env::var(URL_VARIABLE) else {
        eprintln!(
            "admission_tick: skipped because {URL_VARIABLE} is not set. Set it to the URL of a Redis, or the \
             comma-separated node URLs of a Redis Cluster, for example {URL_VARIABLE}=redis://127.0.0.1:7400, \
             to run this benchmark."
        );
        return Ok(());
    };
    // The tick logs its failures instead of returning them, so print its warnings on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let runtime = Runtime::new().context("creating the tokio runtime failed")?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let config = RedisConfig {
        urls: url.split(',').map(|node| Secret::new(node.trim())).collect(),
        tls_ca_file: None,
        queue_shards: 1,
        namespace: format!("onsale-bench-{}", &run_id[..12]),
        response_timeout: Duration::from_secs(10),
    };
    let store = runtime
        .block_on(RedisStore::connect(&config))
        .with_context(|| format!("connecting to the Redis at {URL_VARIABLE} failed"))?;
    let redis_version = runtime.block_on(redis_version(&config.urls()[0])).unwrap_or_else(|err| {
        eprintln!("admission_tick: reading the Redis version failed: {err:#}");
        "unknown".to_owned()
    });
    eprintln!(
        "admission_tick: Redis {redis_version} ({}), namespace {}; {TICKS} ticks of {FANS_PER_TICK} fans per \
         algorithm, {QUEUE_DEPTH} fans waiting",
        if store.connection().is_cluster() { "cluster" } else { "single node" },
        config.namespace
    );

    let mut results = Vec::new();
    for (index, algorithm) in [TokenAlgorithm::Ed25519, TokenAlgorithm::Hs256].into_iter().enumerate() {
        let mut queue = BenchQueue {
            store: store.clone(),
            event: EventId::new(index as i64 + 1).expect("event ids start at 1"),
            fan_prefix: run_id[..12].to_owned(),
            front: 0,
            back: 0,
        };
        let measured = runtime.block_on(measure_algorithm(&mut queue, algorithm));
        if let Err(err) = runtime.block_on(queue.delete_all()) {
            eprintln!(
                "admission_tick: deleting the bench keys failed: {err:#}. Delete the keys that start with {{{}: by hand.",
                config.namespace
            );
        }
        results.push(measured?);
    }

    print_table(&results);
    let report = json!({
        "benchmark": "admission_tick",
        "redis_version": redis_version,
        "redis_cluster": store.connection().is_cluster(),
        "fans_per_tick": FANS_PER_TICK,
        "ticks": TICKS,
        "queue_depth": QUEUE_DEPTH,
        "goal_p99_ms": GOAL_P99_MS,
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "ed25519": algorithm_json(&results[0]),
        "hs256": algorithm_json(&results[1]),
    });
    println!("{report}");
    Ok(())
}

/// Fills the queue, then times `TICKS` ticks, Redis floors and signing runs, one of each per
/// round.
async fn measure_algorithm(queue: &mut BenchQueue, algorithm: TokenAlgorithm) -> anyhow::Result<AlgorithmResult> {
    let issuer = TokenIssuer::new(SigningKey::generate(algorithm));
    let verifier = TokenVerifier::new(issuer.verifying_key());
    let shared: SharedStore = Arc::new(queue.store.clone());
    let admitter_config = AdmitterConfig::new(ADMISSION_RATE, QueueState::Open);
    let lease_ttl = admitter_config.lease_ttl;
    let admitter = Admitter::new(shared, issuer.clone(), Clock::system(), admitter_config);

    eprintln!("admission_tick: {algorithm}: filling the queue of event {} with {QUEUE_DEPTH} fans", queue.event);
    queue.store.set_queue_state(queue.event, QueueState::Open).await?;
    queue.refill().await?;

    // The first tick takes the lease and starts the bucket, with nothing saved up to admit.
    let Some(mut bucket) = admitter.tick_event(queue.event, None).await else {
        bail!("the admitter did not get the lease of event {}", queue.event);
    };

    let admit_script = redis::Script::new(admit_script_source());
    let mut result = AlgorithmResult {
        algorithm,
        tick: Timings::new("tick", "tick"),
        redis_floor: Timings::new("Redis floor", "redis_floor"),
        signing: Timings::new("signing alone", "signing"),
    };
    for round in 0..WARM_UP_TICKS + TICKS {
        let record = round >= WARM_UP_TICKS;

        let admitted_before = queue.store.queue_meta(queue.event, QueueState::Open).await?.admitted;
        bucket.set_allowance(FANS_PER_TICK as f64);
        let start = Instant::now();
        let Some(next) = admitter.tick_event(queue.event, Some(bucket)).await else {
            bail!("the admitter lost the lease of event {} in round {round}", queue.event);
        };
        let elapsed = start.elapsed();
        bucket = next;
        queue.finish_step(admitted_before, &verifier, "tick").await?;
        if record {
            result.tick.record(elapsed);
        }

        let admitted_before = queue.store.queue_meta(queue.event, QueueState::Open).await?.admitted;
        ensure!(
            queue.store.acquire_lease(queue.event, admitter.owner(), lease_ttl).await?,
            "the admitter lost the lease of event {} in round {round}",
            queue.event
        );
        let elapsed = time_redis_floor(queue, &issuer, &admit_script, admitter.owner()).await?;
        queue.finish_step(admitted_before, &verifier, "Redis floor").await?;
        if record {
            result.redis_floor.record(elapsed);
        }

        let fans = queue.front_fans();
        let start = Instant::now();
        let now = chrono::Utc::now();
        for fan in &fans {
            std::hint::black_box(issuer.issue(fan, queue.event, now));
        }
        let elapsed = start.elapsed();
        if record {
            result.signing.record(elapsed);
        }
    }
    eprintln!(
        "admission_tick: {algorithm}: tick p50 {:.2} ms, p99 {:.2} ms",
        result.tick.quantile_ms(0.50),
        result.tick.quantile_ms(0.99)
    );
    Ok(result)
}

/// Times the tick's two large Redis commands with the tokens signed beforehand: ZRANGE of the
/// front fans, then EVALSHA of the ADMIT script with the keys and arguments that
/// `RedisStore::admit` sends.
async fn time_redis_floor(
    queue: &BenchQueue,
    issuer: &TokenIssuer,
    admit_script: &redis::Script,
    owner: &str,
) -> anyhow::Result<Duration> {
    let keys = queue.store.keys(queue.event);
    let fans = queue.front_fans();
    let token_ttl_ms = issuer.lifetime().num_milliseconds();
    let now = chrono::Utc::now();
    let mut invocation = admit_script.prepare_invoke();
    invocation.key(keys.queue_shard().queue()).key(keys.queue_shard().lease()).key(keys.queue_shard().meta());
    invocation.arg(owner).arg(token_ttl_ms);
    for fan in &fans {
        let issued = issuer.issue(fan, queue.event, now);
        invocation.key(keys.queue_shard().admission(fan));
        // The value RedisStore::admit stores: the expiry in Unix seconds, a space, the token.
        invocation.arg(fan.as_str()).arg(format!("{} {}", issued.expires_at.timestamp(), issued.token));
    }
    let mut conn = queue.store.connection();

    let start = Instant::now();
    let peeked: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys.queue_shard().queue())
        .arg(0)
        .arg(FANS_PER_TICK - 1)
        .query_async(&mut conn)
        .await
        .context("ZRANGE of the queue failed")?;
    let reply: Vec<redis::Value> = invocation.invoke_async(&mut conn).await.context("the ADMIT script failed")?;
    let elapsed = start.elapsed();

    ensure!(
        peeked.len() == fans.len() && peeked.iter().zip(&fans).all(|(peeked, fan)| peeked == fan.as_str()),
        "ZRANGE returned other fans than the {FANS_PER_TICK} at the front of the queue"
    );
    ensure!(
        matches!(reply.first(), Some(redis::Value::BulkString(head)) if head == b"ok"),
        "the ADMIT script returned {reply:?}, expected ok"
    );
    Ok(elapsed)
}

async fn redis_version(url: &str) -> anyhow::Result<String> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut conn).await?;
    info.lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .map(|version| version.trim().to_owned())
        .context("INFO server has no redis_version line")
}

fn algorithm_json(result: &AlgorithmResult) -> serde_json::Value {
    let tick = &result.tick;
    let ratio = |floor: &Timings, quantile: f64| {
        let ratio = floor.quantile_ms(quantile) / tick.quantile_ms(quantile);
        (ratio * 1000.0).round() / 1000.0
    };
    let mut fields = serde_json::Map::new();
    for timings in [&result.tick, &result.redis_floor, &result.signing] {
        let prefix = timings.json_prefix;
        fields.insert(format!("{prefix}_p50_ms"), json!(timings.quantile_ms(0.50)));
        fields.insert(format!("{prefix}_p90_ms"), json!(timings.quantile_ms(0.90)));
        fields.insert(format!("{prefix}_p99_ms"), json!(timings.quantile_ms(0.99)));
        fields.insert(format!("{prefix}_max_ms"), json!(timings.max_ms()));
    }
    let fans_per_s = FANS_PER_TICK as f64 / (tick.quantile_ms(0.50) / 1000.0);
    fields.insert("tick_fans_per_s_at_p50".into(), json!(fans_per_s.round()));
    fields.insert("redis_floor_ratio_p50".into(), json!(ratio(&result.redis_floor, 0.50)));
    fields.insert("redis_floor_ratio_p99".into(), json!(ratio(&result.redis_floor, 0.99)));
    fields.insert("signing_ratio_p50".into(), json!(ratio(&result.signing, 0.50)));
    fields.insert("signing_ratio_p99".into(), json!(ratio(&result.signing, 0.99)));
    fields.insert("meets_goal_p99".into(), json!(tick.quantile_ms(0.99) <= GOAL_P99_MS));
    serde_json::Value::Object(fields)
}

fn print_table(results: &[AlgorithmResult]) {
    eprintln!();
    eprintln!(
        "Admission tick of {FANS_PER_TICK} fans, {TICKS} ticks, in ms. Ratio: that step's time over the tick's, at the same percentile."
    );
    eprintln!("{:<8} {:<14} {:>8} {:>8} {:>8} {:>8} {:>10}", "token", "step", "p50", "p90", "p99", "max", "ratio p50");
    for result in results {
        for timings in [&result.tick, &result.redis_floor, &result.signing] {
            let ratio = timings.quantile_ms(0.50) / result.tick.quantile_ms(0.50);
            eprintln!(
                "{:<8} {:<14} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>10.3}",
                result.algorithm.to_string(),
                timings.name,
                timings.quantile_ms(0.50),
                timings.quantile_ms(0.90),
                timings.quantile_ms(0.99),
                timings.max_ms(),
                ratio
            );
        }
    }
    eprintln!("Goal: tick p99 at most {GOAL_P99_MS} ms.");
}
