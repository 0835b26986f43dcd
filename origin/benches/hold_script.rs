//! The HOLD script called through the origin's own Redis store code (`RedisStore::hold`, which
//! builds the keys and arguments, runs EVALSHA and parses the reply):
//!
//! - `hold 4 free seats, 1 in flight`: one hold after another, each on 4 free seats;
//! - `hold 4 free seats, 50 in flight`: 50 holds at a time on the store's one multiplexed
//!   connection, as the API server sends them. Its ceiling is `hold_evalsha_pipelined_per_s`
//!   of `bench/engine-ceilings.sh`: the same script from redis-benchmark, 16 in flight on each
//!   of 50 connections;
//! - `hold 4 taken seats`: the reply `unavailable`, which writes nothing.
//!
//! Run: `ONSALE_BENCH_REDIS_URL=redis://127.0.0.1:7400 cargo bench -p onsale-origin --bench hold_script`.
//! Without `ONSALE_BENCH_REDIS_URL` the bench prints that it was skipped and exits. Use a Redis
//! of your own, not one that other runs share: the bench writes under a namespace of its own
//! (`onsale-bench-<random>`) and deletes every key it wrote when it ends, but its load slows
//! everything else on that server.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;
use tokio::runtime::Runtime;
use uuid::Uuid;

use onsale_origin::config::{RedisConfig, Secret};
use onsale_origin::store::{HoldAttempt, HoldOutcome, HoldStore, RedisStore};
use onsale_shared::{EventId, FanId, HoldId, SeatIndex};

const URL_VARIABLE: &str = "ONSALE_BENCH_REDIS_URL";
const SEATS_PER_HOLD: u32 = 4;
/// Seats of one benchmark event: MetLife Stadium's 72,483 rounded down to whole holds. When an
/// event runs out of free seats, the next hold moves to the next event.
const SEATS_PER_EVENT: u32 = 72_480;
const HOLDS_PER_EVENT: u64 = (SEATS_PER_EVENT / SEATS_PER_HOLD) as u64;
/// The origin's default hold TTL (`ONSALE_HOLD_TTL`).
const HOLD_TTL: Duration = Duration::from_secs(600);
const IN_FLIGHT: usize = 50;
/// Keys per DEL command during the cleanup. All keys of one command are in one event's slot.
const DELETE_BATCH: usize = 1_000;

/// One planned hold. Everything is derived from its sequence number, so the cleanup can name
/// every key the bench wrote without recording them.
struct PlannedHold {
    event: EventId,
    hold: HoldId,
    nonce: String,
    seats: Vec<SeatIndex>,
}

impl PlannedHold {
    fn new(run: u128, number: u64) -> Self {
        let event = EventId::new(1 + (number / HOLDS_PER_EVENT) as i64).expect("event ids start at 1");
        let first_seat = (number % HOLDS_PER_EVENT) as u32 * SEATS_PER_HOLD;
        let seats = (first_seat..first_seat + SEATS_PER_HOLD)
            .map(|seat| SeatIndex::new(seat).expect("seat index below SeatIndex::MAX_SEATS"))
            .collect();
        Self {
            event,
            hold: HoldId::from_uuid(Uuid::from_u128(run ^ u128::from(number))),
            nonce: format!("bench-{number}"),
            seats,
        }
    }

    fn attempt<'a>(&'a self, fan: &'a FanId) -> HoldAttempt<'a> {
        HoldAttempt { event: self.event, hold: self.hold, fan, nonce: &self.nonce, seats: &self.seats, ttl: HOLD_TTL }
    }
}

async fn hold_free_seats(store: &RedisStore, fan: &FanId, planned: &PlannedHold) {
    let outcome = store.hold(&planned.attempt(fan)).await.expect("HOLD script call failed");
    assert!(
        matches!(outcome, HoldOutcome::Held { .. }),
        "hold {} on free seats returned {outcome:?}, expected Held",
        planned.hold
    );
}

/// Deletes every key that the holds numbered `0..hold_count` wrote, event by event.
async fn delete_bench_keys(store: &RedisStore, run: u128, hold_count: u64) -> redis::RedisResult<()> {
    let mut conn = store.connection();
    let mut batch: Vec<String> = Vec::with_capacity(DELETE_BATCH);
    let mut batch_event = None;
    for number in 0..hold_count {
        let planned = PlannedHold::new(run, number);
        if batch_event != Some(planned.event) || batch.len() >= DELETE_BATCH {
            if !batch.is_empty() {
                redis::cmd("DEL").arg(&batch).query_async::<()>(&mut conn).await?;
                batch.clear();
            }
            if batch_event != Some(planned.event) {
                let keys = store.keys(planned.event);
                batch.extend([keys.holds_by_expiry(), keys.seat_versions(), keys.stats()]);
                batch_event = Some(planned.event);
            }
        }
        let keys = store.keys(planned.event);
        batch.push(keys.hold(planned.hold));
        batch.push(keys.nonce(&planned.nonce));
        batch.extend(planned.seats.iter().map(|seat| keys.seat(*seat)));
    }
    if !batch.is_empty() {
        redis::cmd("DEL").arg(&batch).query_async::<()>(&mut conn).await?;
    }
    Ok(())
}

fn hold_script(c: &mut Criterion) {
    let Ok(url) = std::env::var(URL_VARIABLE) else {
        eprintln!(
            "hold_script: skipped because {URL_VARIABLE} is not set. Set it to the URL of a Redis of your own, \
             for example {URL_VARIABLE}=redis://127.0.0.1:7400, to run this benchmark."
        );
        return;
    };

    let runtime = Runtime::new().expect("creating the tokio runtime failed");
    let run_id = Uuid::new_v4();
    let config = RedisConfig {
        urls: vec![Secret::new(url)],
        tls_ca_file: None,
        queue_shards: 1,
        namespace: format!("onsale-bench-{}", &run_id.simple().to_string()[..12]),
        response_timeout: Duration::from_secs(5),
    };
    let store = runtime
        .block_on(RedisStore::connect(&config))
        .unwrap_or_else(|err| panic!("connecting to the Redis at {URL_VARIABLE} failed: {err}"));
    let run = run_id.as_u128();
    let fan = FanId::random();

    // Hold number 0 takes its seats up front, so that `hold 4 taken seats` finds them taken even
    // when a filter on the command line skips the other benchmarks.
    let taken_hold = PlannedHold::new(run, 0);
    runtime.block_on(hold_free_seats(&store, &fan, &taken_hold));
    let mut next_hold: u64 = 1;

    let mut group = c.benchmark_group("hold_script");

    group.throughput(Throughput::Elements(1));
    group.bench_function("hold 4 free seats, 1 in flight", |b| {
        b.iter_custom(|iterations| {
            let planned: Vec<PlannedHold> =
                (next_hold..next_hold + iterations).map(|number| PlannedHold::new(run, number)).collect();
            next_hold += iterations;
            runtime.block_on(async {
                let start = Instant::now();
                for hold in &planned {
                    hold_free_seats(&store, &fan, hold).await;
                }
                start.elapsed()
            })
        })
    });

    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.bench_function(format!("hold 4 free seats, {IN_FLIGHT} in flight"), |b| {
        b.iter_custom(|iterations| {
            let count = iterations * IN_FLIGHT as u64;
            let planned: Vec<PlannedHold> =
                (next_hold..next_hold + count).map(|number| PlannedHold::new(run, number)).collect();
            next_hold += count;
            runtime.block_on(async {
                let start = Instant::now();
                for wave in planned.chunks(IN_FLIGHT) {
                    join_all(wave.iter().map(|hold| hold_free_seats(&store, &fan, hold))).await;
                }
                start.elapsed()
            })
        })
    });

    let mut attempt_number: u64 = 0;
    group.throughput(Throughput::Elements(1));
    group.bench_function("hold 4 taken seats", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    attempt_number += 1;
                    let nonce = format!("bench-taken-{attempt_number}");
                    let attempt = HoldAttempt { nonce: &nonce, hold: HoldId::random(), ..taken_hold.attempt(&fan) };
                    let outcome = store.hold(&attempt).await.expect("HOLD script call failed");
                    assert!(matches!(outcome, HoldOutcome::Unavailable(_)), "hold on taken seats returned {outcome:?}");
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    eprintln!("hold_script: deleting the keys of {next_hold} holds under namespace {}", config.namespace);
    if let Err(err) = runtime.block_on(delete_bench_keys(&store, run, next_hold)) {
        eprintln!(
            "hold_script: deleting the bench keys failed: {err}. Delete the keys that start with {{{}: by hand.",
            config.namespace
        );
    }
}

criterion_group!(benches, hold_script);
criterion_main!(benches);
