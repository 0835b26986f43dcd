//! Measures how joins of one event's queue scale with the queue's shards on a Redis Cluster.
//!
//! One sorted set is one slot, and one slot is served by one Redis process, which runs commands
//! on one core. With the queue split over shards in slots of different primaries
//! (`ONSALE_REDIS_QUEUE_SHARDS`), the joins of one event spread over those processes.
//!
//! For each shard count of `--shards`, this example joins `--joins` new fans to a fresh event
//! through the origin's own store code. That is `RedisStore::join`: the JOIN script, and with
//! shards, a ZCOUNT per other shard for the fan's exact place. `--concurrency` joins are in
//! flight over one multiplexed cluster connection. It reports joins per second, and the CPU each primary and this process
//! used, from `INFO cpu` and `/proc/self/stat` read before and after.
//!
//! Run: `cargo run --release -p onsale-origin --example join_scaling -- --shards 1,3`, with the
//! Redis Cluster of `scripts/services.sh start`. One JSON object goes to stdout, a table to
//! stderr. Keys go under a fresh namespace and are deleted at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::json;

use onsale_origin::config::{RedisConfig, Secret};
use onsale_origin::store::redis::QueueLayout;
use onsale_origin::store::{QueueStore, RedisStore};
use onsale_shared::api::QueueState;
use onsale_shared::{EventId, FanId};

#[derive(Parser)]
#[command(about = "Measure joins per second of one event's queue against its number of shards")]
struct Args {
    /// Redis Cluster node URLs, comma-separated.
    #[arg(
        long,
        env = "ONSALE_TEST_REDIS_CLUSTER",
        default_value = "redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002"
    )]
    redis: String,
    /// Shard counts to measure, comma-separated; each gets a fresh event.
    #[arg(long, default_value = "1,3", value_delimiter = ',')]
    shards: Vec<u16>,
    /// Fans joined per shard count.
    #[arg(long, default_value_t = 200_000)]
    joins: u64,
    /// Joins in flight at once.
    #[arg(long, default_value_t = 512)]
    concurrency: u64,
}

/// A primary of the cluster: its address and a connection for INFO.
struct Primary {
    address: String,
    conn: redis::aio::MultiplexedConnection,
}

impl Primary {
    /// CPU seconds (user and system) the server used since it started.
    async fn cpu_seconds(&mut self) -> anyhow::Result<f64> {
        let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut self.conn).await?;
        let field = |name: &str| {
            info.lines().find_map(|line| line.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
        };
        Ok(field("used_cpu_user:").unwrap_or(0.0) + field("used_cpu_sys:").unwrap_or(0.0))
    }
}

async fn primaries(first_url: &str) -> anyhow::Result<Vec<Primary>> {
    let client = redis::Client::open(first_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(&mut conn).await?;
    let mut found = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 3 || !fields[2].split(',').any(|flag| flag == "master") {
            continue;
        }
        let address = fields[1].split('@').next().unwrap_or_default().to_owned();
        let client = redis::Client::open(format!("redis://{address}"))?;
        let conn = client.get_multiplexed_async_connection().await?;
        found.push(Primary { address, conn });
    }
    found.sort_by(|a, b| a.address.cmp(&b.address));
    anyhow::ensure!(!found.is_empty(), "CLUSTER NODES at {first_url} lists no primary");
    Ok(found)
}

/// CPU seconds this process used, from /proc/self/stat (utime and stime, in clock ticks).
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(after_name) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return 0.0 };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file are utime and stime; after the name they are 12th and 13th.
    let ticks: f64 = fields.get(11..13).map_or(0.0, |t| t.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let urls: Vec<String> = args.redis.split(',').map(str::to_owned).collect();
    let mut primaries = primaries(&urls[0]).await.context("reading the cluster's primaries failed")?;
    let mut rows = Vec::new();
    eprintln!(
        "{:>6} {:>10} {:>8}  cores per primary ({}) and this process",
        "shards",
        "joins/s",
        "p_total",
        primaries.iter().map(|p| p.address.as_str()).collect::<Vec<_>>().join(", ")
    );
    for &shards in &args.shards {
        let namespace = format!("join-scaling-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let config = RedisConfig {
            urls: urls.iter().cloned().map(Secret::new).collect(),
            namespace: namespace.clone(),
            response_timeout: Duration::from_secs(10),
            tls_ca_file: None,
            queue_shards: shards,
        };
        let store = Arc::new(RedisStore::connect(&config).await?);
        let event = EventId::new(1)?;
        // The first call pins the shard count, as in a real sale.
        store.queue_meta(event, QueueState::Open).await?;

        let mut before = Vec::new();
        for primary in &mut primaries {
            before.push(primary.cpu_seconds().await?);
        }
        let own_before = own_cpu_seconds();
        let next = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let (store, next, failures, total) =
                    (Arc::clone(&store), Arc::clone(&next), Arc::clone(&failures), args.joins);
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < total {
                        if store.join(event, &FanId::random(), QueueState::Open).await.is_err() {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let own = (own_cpu_seconds() - own_before) / elapsed;
        let mut cores = BTreeMap::new();
        for (primary, before) in primaries.iter_mut().zip(&before) {
            cores.insert(primary.address.clone(), (primary.cpu_seconds().await? - before) / elapsed);
        }
        let meta = store.queue_meta(event, QueueState::Open).await?;
        let joins_per_second = meta.joined as f64 / elapsed;
        let busiest = cores.values().copied().fold(0.0, f64::max);
        let total: f64 = cores.values().sum();
        eprintln!(
            "{shards:>6} {joins_per_second:>10.0} {total:>8.2}  {} | {own:.2}",
            cores.values().map(|c| format!("{c:.2}")).collect::<Vec<_>>().join(" ")
        );
        rows.push(json!({
            "shards": shards,
            "joins": meta.joined,
            "failures": failures.load(Ordering::Relaxed),
            "seconds": elapsed,
            "joins_per_second": joins_per_second,
            "busiest_primary_cores": busiest,
            "primaries_cores": cores,
            "client_cores": own,
        }));

        // Clean up: every shard's queue, meta and lease.
        let layout = QueueLayout::new(&namespace, event, shards);
        let mut conn = store.connection();
        for shard in layout.shards() {
            for key in [shard.queue(), shard.meta(), shard.lease(), shard.prequeue()] {
                redis::cmd("DEL").arg(key).query_async::<()>(&mut conn).await?;
            }
        }
    }
    println!("{}", json!({ "joins": args.joins, "concurrency": args.concurrency, "runs": rows }));
    Ok(())
}
