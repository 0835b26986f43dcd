//! Contract tests of the store traits (`HoldStore`, `QueueStore`, `AvailabilityStore`, `Store`).
//!
//! Each contract is one function over a `SharedStore`, run once per backend by
//! `contract_tests!`, so a failure names both: `store::memory::hold_is_all_or_nothing` or
//! `store::redis::hold_is_all_or_nothing`. The Redis runs use the Redis Cluster listed in
//! `ONSALE_TEST_REDIS_CLUSTER` (comma-separated node URLs, default the six nodes that
//! `scripts/services.sh start` runs on 127.0.0.1:7000-7005), with a random key namespace and a
//! random event id per test, so runs never share keys.
//!
//! Both backends read a wall clock (the Redis server's, or this process's), so the TTL contracts
//! sleep past a 300 ms TTL instead of moving an injected clock.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use tokio::task::JoinHandle;

use onsale_origin::config::{RedisConfig, Secret};
use onsale_origin::store::memory::MemoryStore;
use onsale_origin::store::{
    AdmitOutcome, ClaimOutcome, ExpireOutcome, HoldAttempt, HoldOutcome, HoldRecord, HoldStats, JoinOutcome, QueueMeta,
    RedisStore, ReleaseOutcome, SeatState, SeatStateChange, SeatVersion, SharedStore, StatusOutcome, StoredAdmission,
};
use onsale_shared::api::QueueState;
use onsale_shared::token::random_nonce;
use onsale_shared::{EventId, FanId, HoldId, OrderId, SeatIndex};

/// Runs each named contract against both backends, as `memory::<name>` and `redis::<name>`.
macro_rules! contract_tests {
    ($($contract:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $contract() {
                    super::$contract(super::memory_store()).await;
                }
            )+
        }

        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $contract() {
                    super::$contract(super::redis_store().await).await;
                }
            )+
        }
    };
}

/// Runs each named queue contract against Redis with every queue split over
/// [`QUEUE_SHARDS`] shards, as `redis_sharded::<name>`.
macro_rules! sharded_queue_tests {
    ($($contract:ident),+ $(,)?) => {
        mod redis_sharded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $contract() {
                    super::$contract(super::redis_store_with(super::QUEUE_SHARDS).await).await;
                }
            )+
        }
    };
}

contract_tests!(
    hold_is_all_or_nothing,
    racing_overlapping_holds_have_one_winner,
    concurrent_holds_never_share_seats,
    nonce_backs_one_live_hold,
    hold_record_matches_hold,
    release_frees_seats_and_nonce,
    release_by_other_fan_is_not_found,
    expired_hold_is_due_and_freed,
    expire_leaves_seats_taken_since,
    due_holds_are_oldest_first,
    claim_keeps_live_hold,
    claimed_seats_outlive_the_claim,
    claim_retakes_freed_seats,
    claim_reports_conflicts,
    claim_detects_rebound_nonce,
    mark_sold_spends_nonce,
    mark_sold_is_unconditional,
    repair_sold_marks_missing_sales,
    hold_stats_count_each_outcome,
    seat_states_report_each_seat,
    versions_increase_per_seat,
    bitmap_is_none_until_applied,
    apply_changes_skips_stale_versions,
    rebuild_matches_seat_states,
    dirty_bitmaps_are_taken_once,
    join_is_idempotent,
    ranks_follow_join_order,
    status_without_join,
    open_places_prequeue_in_random_order,
    admit_needs_lease_and_open_queue,
    admitted_fan_gets_token_until_ttl,
    lease_is_exclusive_until_expiry,
    queue_meta_counts,
    closed_queue_rejects_join,
    admission_follows_join_order,
    active_events_lists_activated,
    ping_succeeds,
);

sharded_queue_tests!(
    join_is_idempotent,
    ranks_follow_join_order,
    status_without_join,
    open_places_prequeue_in_random_order,
    admit_needs_lease_and_open_queue,
    admitted_fan_gets_token_until_ttl,
    lease_is_exclusive_until_expiry,
    queue_meta_counts,
    closed_queue_rejects_join,
    admission_follows_join_order,
);

/// Queue shards of the `redis_sharded` runs: one per primary of the test cluster.
const QUEUE_SHARDS: u16 = 3;

/// TTL of holds that a test never sees expire.
const LONG_TTL: Duration = Duration::from_secs(600);
/// TTL of holds, tokens and leases that a test waits out.
const SHORT_TTL: Duration = Duration::from_millis(300);
/// A wait past [`SHORT_TTL`], with slack for a slow machine.
const PAST_SHORT_TTL: Duration = Duration::from_millis(450);

fn memory_store() -> SharedStore {
    Arc::new(MemoryStore::new())
}

fn redis_urls() -> String {
    std::env::var("ONSALE_TEST_REDIS_CLUSTER")
        .unwrap_or_else(|_| (7000..7006).map(|port| format!("redis://127.0.0.1:{port}")).collect::<Vec<_>>().join(","))
}

async fn redis_store() -> SharedStore {
    redis_store_with(1).await
}

async fn redis_store_with(queue_shards: u16) -> SharedStore {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let config = RedisConfig {
        urls: redis_urls().split(',').map(Secret::new).collect(),
        namespace: format!("contract-{}", &suffix[..12]),
        response_timeout: Duration::from_secs(5),
        tls_ca_file: None,
        queue_shards,
    };
    let store = RedisStore::connect(&config)
        .await
        .expect("Redis Cluster at ONSALE_TEST_REDIS_CLUSTER must be running (scripts/services.sh start)");
    Arc::new(store)
}

fn random_event() -> EventId {
    EventId::new(rand::thread_rng().gen_range(1..=i64::MAX)).expect("positive event id")
}

fn seat(index: u32) -> SeatIndex {
    SeatIndex::new(index).expect("valid seat index")
}

fn seats(indexes: &[u32]) -> Vec<SeatIndex> {
    indexes.iter().map(|&index| seat(index)).collect()
}

fn seats_of(versions: &[SeatVersion]) -> Vec<SeatIndex> {
    versions.iter().map(|changed| changed.seat).collect()
}

fn version_of(versions: &[SeatVersion], index: u32) -> u32 {
    versions.iter().find(|changed| changed.seat == seat(index)).map(|changed| changed.version).unwrap_or_else(|| {
        panic!("no version for seat {index} in {versions:?}");
    })
}

/// A fan with an admission: the fan id and the nonce of their token.
#[derive(Debug, Clone)]
struct Buyer {
    fan: FanId,
    nonce: String,
}

impl Buyer {
    fn new() -> Self {
        Self { fan: FanId::random(), nonce: random_nonce() }
    }
}

async fn try_hold(
    store: &SharedStore,
    event: EventId,
    buyer: &Buyer,
    seats: &[SeatIndex],
    ttl: Duration,
) -> (HoldId, HoldOutcome) {
    let hold = HoldId::random();
    let attempt = HoldAttempt { event, hold, fan: &buyer.fan, nonce: &buyer.nonce, seats, ttl };
    let outcome = store.hold(&attempt).await.expect("hold call failed");
    (hold, outcome)
}

/// Holds seats that must be free and returns the hold's record and the seats' new versions.
async fn hold_free(
    store: &SharedStore,
    event: EventId,
    buyer: &Buyer,
    seats: &[SeatIndex],
    ttl: Duration,
) -> (HoldRecord, Vec<SeatVersion>) {
    let (hold, outcome) = try_hold(store, event, buyer, seats, ttl).await;
    let HoldOutcome::Held { versions, .. } = outcome else {
        panic!("holding free seats {seats:?} returned {outcome:?}");
    };
    let record = store.hold_record(event, hold).await.expect("hold_record call failed");
    (record.expect("a live hold has a record"), versions)
}

fn spawn_hold(
    store: &SharedStore,
    event: EventId,
    buyer: Buyer,
    seats: Vec<SeatIndex>,
) -> JoinHandle<(HoldId, HoldOutcome)> {
    let store = Arc::clone(store);
    tokio::spawn(async move { try_hold(&store, event, &buyer, &seats, LONG_TTL).await })
}

async fn states(store: &SharedStore, event: EventId, indexes: &[u32]) -> Vec<SeatState> {
    store.seat_states(event, &seats(indexes)).await.expect("seat_states call failed")
}

async fn expire_due(store: &SharedStore, event: EventId, record: &HoldRecord) -> Vec<SeatVersion> {
    match store.expire(event, record).await.expect("expire call failed") {
        ExpireOutcome::Expired(versions) => versions,
        other => panic!("expiring a due hold returned {other:?}"),
    }
}

fn admission(token: &str) -> StoredAdmission {
    // Whole seconds, as admission tokens carry them.
    let expires_at = DateTime::<Utc>::from_timestamp(Utc::now().timestamp() + 900, 0).expect("valid time");
    StoredAdmission { token: token.to_owned(), expires_at }
}

async fn join(store: &SharedStore, event: EventId, fan: &FanId, default_state: QueueState) -> JoinOutcome {
    store.join(event, fan, default_state).await.expect("join call failed")
}

async fn status(store: &SharedStore, event: EventId, fan: &FanId) -> StatusOutcome {
    store.queue_status(event, fan, QueueState::Open).await.expect("queue_status call failed")
}

async fn meta(store: &SharedStore, event: EventId, default_state: QueueState) -> QueueMeta {
    store.queue_meta(event, default_state).await.expect("queue_meta call failed")
}

// Seat holds.

async fn hold_is_all_or_nothing(store: SharedStore) {
    let event = random_event();
    let (first, _) = hold_free(&store, event, &Buyer::new(), &seats(&[2, 3]), LONG_TTL).await;

    let buyer = Buyer::new();
    let (failed, outcome) = try_hold(&store, event, &buyer, &seats(&[1, 2, 3, 4]), LONG_TTL).await;
    assert_eq!(outcome, HoldOutcome::Unavailable(seats(&[2, 3])));
    let held = SeatState::Held(first.hold);
    assert_eq!(states(&store, event, &[1, 2, 3, 4]).await, [SeatState::Free, held, held, SeatState::Free]);
    assert_eq!(store.hold_record(event, failed).await.unwrap(), None);

    // The failed attempt bound nothing: the same admission holds the free seats.
    let (_, outcome) = try_hold(&store, event, &buyer, &seats(&[1, 4]), LONG_TTL).await;
    assert!(matches!(outcome, HoldOutcome::Held { .. }), "{outcome:?}");
    assert_eq!(store.hold_stats(event).await.unwrap().holds_started, 2);
}

async fn racing_overlapping_holds_have_one_winner(store: SharedStore) {
    let event = random_event();
    for round in 0..200u32 {
        let base = round * 10;
        let left = seats(&[base, base + 1, base + 2, base + 3]);
        let right = seats(&[base + 2, base + 3, base + 4, base + 5]);
        let left_task = spawn_hold(&store, event, Buyer::new(), left.clone());
        let right_task = spawn_hold(&store, event, Buyer::new(), right.clone());
        let (left_hold, left_outcome) = left_task.await.expect("hold task panicked");
        let (right_hold, right_outcome) = right_task.await.expect("hold task panicked");

        let (winner, winner_seats, loser_outcome) = match (&left_outcome, &right_outcome) {
            (HoldOutcome::Held { .. }, _) => (left_hold, &left, &right_outcome),
            (_, HoldOutcome::Held { .. }) => (right_hold, &right, &left_outcome),
            _ => panic!("round {round}: neither hold won: {left_outcome:?} and {right_outcome:?}"),
        };
        assert_eq!(
            *loser_outcome,
            HoldOutcome::Unavailable(seats(&[base + 2, base + 3])),
            "round {round}: the loser must fail on exactly the shared seats"
        );

        let all: Vec<u32> = (base..base + 6).collect();
        let expected: Vec<SeatState> = seats(&all)
            .iter()
            .map(|s| if winner_seats.contains(s) { SeatState::Held(winner) } else { SeatState::Free })
            .collect();
        assert_eq!(states(&store, event, &all).await, expected, "round {round}");
    }
}

async fn concurrent_holds_never_share_seats(store: SharedStore) {
    let event = random_event();
    let pool: Vec<u32> = (0..24).collect();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let picked: Vec<u32> = pool.choose_multiple(&mut rand::thread_rng(), 4).copied().collect();
        tasks.push((picked.clone(), spawn_hold(&store, event, Buyer::new(), seats(&picked))));
    }

    let mut owner_of = std::collections::HashMap::new();
    let mut reported_taken = Vec::new();
    for (picked, task) in tasks {
        let (hold, outcome) = task.await.expect("hold task panicked");
        match outcome {
            HoldOutcome::Held { versions, .. } => {
                assert_eq!(seats_of(&versions), seats(&picked));
                for index in picked {
                    let previous = owner_of.insert(index, hold);
                    assert_eq!(previous, None, "seat {index} held by two holds");
                }
            }
            HoldOutcome::Unavailable(taken) => {
                assert!(!taken.is_empty());
                assert!(taken.iter().all(|s| picked.contains(&s.get())), "{taken:?} not among {picked:?}");
                reported_taken.extend(taken);
                assert_eq!(store.hold_record(event, hold).await.unwrap(), None, "a failed hold left a record");
            }
            HoldOutcome::NonceUsed => panic!("every buyer has a nonce of their own"),
        }
    }

    let current = states(&store, event, &pool).await;
    for (index, state) in pool.iter().zip(&current) {
        let expected = owner_of.get(index).map_or(SeatState::Free, |hold| SeatState::Held(*hold));
        assert_eq!(*state, expected, "seat {index}");
    }
    for taken in reported_taken {
        assert!(owner_of.contains_key(&taken.get()), "seat {taken} was reported taken but nobody holds it");
    }
}

async fn nonce_backs_one_live_hold(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let tasks: Vec<_> =
        (0..50u32).map(|i| spawn_hold(&store, event, buyer.clone(), seats(&[2 * i, 2 * i + 1]))).collect();

    let mut winners = Vec::new();
    for (i, task) in (0..50u32).zip(tasks) {
        let (hold, outcome) = task.await.expect("hold task panicked");
        match outcome {
            HoldOutcome::Held { .. } => winners.push((i, hold)),
            HoldOutcome::NonceUsed => {}
            HoldOutcome::Unavailable(taken) => panic!("seats of attempt {i} are disjoint, yet {taken:?} were taken"),
        }
    }
    assert_eq!(winners.len(), 1, "holds with one nonce: {winners:?}");

    let (winner, hold) = winners[0];
    let all: Vec<u32> = (0..100).collect();
    let held: Vec<usize> = states(&store, event, &all)
        .await
        .iter()
        .enumerate()
        .filter(|(_, state)| **state != SeatState::Free)
        .map(|(index, _)| index)
        .collect();
    assert_eq!(held, [2 * winner as usize, 2 * winner as usize + 1]);
    assert_eq!(states(&store, event, &[2 * winner]).await, [SeatState::Held(hold)]);
}

async fn hold_record_matches_hold(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let (hold, outcome) = try_hold(&store, event, &buyer, &seats(&[7, 3]), LONG_TTL).await;
    let HoldOutcome::Held { expires_at_ms, versions } = outcome else {
        panic!("holding free seats returned {outcome:?}");
    };
    assert_eq!(seats_of(&versions), seats(&[7, 3]));
    let now_ms = Utc::now().timestamp_millis();
    let ttl_ms = LONG_TTL.as_millis() as i64;
    assert!((expires_at_ms - now_ms - ttl_ms).abs() < 5_000, "expiry {expires_at_ms} is not about now + TTL");

    let record = store.hold_record(event, hold).await.unwrap();
    let expected =
        HoldRecord { hold, fan: buyer.fan, nonce: buyer.nonce, seats: seats(&[7, 3]), expires_at_ms, expired: false };
    assert_eq!(record, Some(expected));
    assert_eq!(store.hold_record(event, HoldId::random()).await.unwrap(), None);
}

async fn release_frees_seats_and_nonce(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let (record, held) = hold_free(&store, event, &buyer, &seats(&[5, 6]), LONG_TTL).await;

    let outcome = store.release(event, &record, &buyer.fan).await.unwrap();
    let ReleaseOutcome::Released(freed) = outcome else {
        panic!("releasing a live hold returned {outcome:?}");
    };
    assert_eq!(seats_of(&freed), seats(&[5, 6]));
    for index in [5, 6] {
        assert!(version_of(&freed, index) > version_of(&held, index), "seat {index}: {held:?} then {freed:?}");
    }
    assert_eq!(states(&store, event, &[5, 6]).await, [SeatState::Free, SeatState::Free]);
    assert_eq!(store.hold_record(event, record.hold).await.unwrap(), None);
    assert_eq!(store.expire(event, &record).await.unwrap(), ExpireOutcome::Gone);
    assert_eq!(store.release(event, &record, &buyer.fan).await.unwrap(), ReleaseOutcome::NotFound);

    // The nonce is free again: the same admission holds other seats.
    hold_free(&store, event, &buyer, &seats(&[8]), LONG_TTL).await;
    assert_eq!(store.hold_stats(event).await.unwrap().holds_released, 1);
}

async fn release_by_other_fan_is_not_found(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let (record, _) = hold_free(&store, event, &buyer, &seats(&[1, 2]), LONG_TTL).await;

    let outcome = store.release(event, &record, &FanId::random()).await.unwrap();
    assert_eq!(outcome, ReleaseOutcome::NotFound);
    let held = SeatState::Held(record.hold);
    assert_eq!(states(&store, event, &[1, 2]).await, [held, held]);
    assert_eq!(store.hold_stats(event).await.unwrap().holds_released, 0);
    let (_, again) = try_hold(&store, event, &buyer, &seats(&[3]), LONG_TTL).await;
    assert_eq!(again, HoldOutcome::NonceUsed, "the nonce must stay bound to the live hold");
}

async fn expired_hold_is_due_and_freed(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let (record, held) = hold_free(&store, event, &buyer, &seats(&[1, 2]), SHORT_TTL).await;
    assert_eq!(store.due_holds(event, 10).await.unwrap(), Vec::<HoldId>::new());
    assert_eq!(store.expire(event, &record).await.unwrap(), ExpireOutcome::NotDue);

    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(store.due_holds(event, 10).await.unwrap(), [record.hold]);
    // The seat keys vanished with their TTL, before the expiry worker ran.
    assert_eq!(states(&store, event, &[1, 2]).await, [SeatState::Free, SeatState::Free]);

    let freed = expire_due(&store, event, &record).await;
    assert_eq!(seats_of(&freed), seats(&[1, 2]), "seats whose key vanished are reported freed");
    for index in [1, 2] {
        assert!(version_of(&freed, index) > version_of(&held, index), "seat {index}: {held:?} then {freed:?}");
    }
    let kept = store.hold_record(event, record.hold).await.unwrap().expect("the record outlives the hold");
    assert!(kept.expired);
    assert_eq!(store.due_holds(event, 10).await.unwrap(), Vec::<HoldId>::new());
    assert_eq!(store.expire(event, &record).await.unwrap(), ExpireOutcome::Gone);
    assert_eq!(store.hold_stats(event).await.unwrap().holds_expired, 1);

    hold_free(&store, event, &buyer, &seats(&[1, 2]), LONG_TTL).await;
}

async fn expire_leaves_seats_taken_since(store: SharedStore) {
    let event = random_event();
    let (record, held) = hold_free(&store, event, &Buyer::new(), &seats(&[1, 2, 3]), SHORT_TTL).await;
    tokio::time::sleep(PAST_SHORT_TTL).await;
    let (other, _) = hold_free(&store, event, &Buyer::new(), &seats(&[2]), LONG_TTL).await;

    let freed = expire_due(&store, event, &record).await;
    assert_eq!(seats_of(&freed), seats(&[1, 3]));
    assert_eq!(version_of(&freed, 1), version_of(&held, 1) + 1);
    assert_eq!(version_of(&freed, 3), version_of(&held, 3) + 1);
    assert_eq!(
        states(&store, event, &[1, 2, 3]).await,
        [SeatState::Free, SeatState::Held(other.hold), SeatState::Free]
    );
}

async fn due_holds_are_oldest_first(store: SharedStore) {
    let event = random_event();
    let mut holds = Vec::new();
    for (index, ttl_ms) in [(1, 300), (2, 200), (3, 100)] {
        let (record, _) =
            hold_free(&store, event, &Buyer::new(), &seats(&[index]), Duration::from_millis(ttl_ms)).await;
        holds.push(record.hold);
    }
    tokio::time::sleep(PAST_SHORT_TTL).await;

    assert_eq!(store.due_holds(event, 2).await.unwrap(), [holds[2], holds[1]]);
    assert_eq!(store.due_holds(event, 10).await.unwrap(), [holds[2], holds[1], holds[0]]);
    store.forget_hold(event, holds[1]).await.unwrap();
    assert_eq!(store.due_holds(event, 10).await.unwrap(), [holds[2], holds[0]]);
}

// Sales.

async fn claim_keeps_live_hold(store: SharedStore) {
    let event = random_event();
    let (record, held) = hold_free(&store, event, &Buyer::new(), &seats(&[4, 5]), SHORT_TTL).await;

    let outcome = store.claim_for_sale(event, &record, LONG_TTL).await.unwrap();
    assert_eq!(outcome, ClaimOutcome::Claimed { retaken: Vec::new() });

    // The claim's TTL replaces the hold's: the seats outlive the hold's 300 ms.
    tokio::time::sleep(PAST_SHORT_TTL).await;
    let claimed = SeatState::Held(record.hold);
    assert_eq!(states(&store, event, &[4, 5]).await, [claimed, claimed]);
    assert_eq!(store.due_holds(event, 10).await.unwrap(), Vec::<HoldId>::new());
    let order = OrderId::random();
    let sold = store.mark_sold(event, &record, order, LONG_TTL).await.unwrap();
    assert_eq!(version_of(&sold, 4), version_of(&held, 4) + 1, "a claim of held seats changes no version");
}

async fn claimed_seats_outlive_the_claim(store: SharedStore) {
    let event = random_event();
    let (record, _) = hold_free(&store, event, &Buyer::new(), &seats(&[6, 7]), LONG_TTL).await;
    let outcome = store.claim_for_sale(event, &record, SHORT_TTL).await.unwrap();
    assert_eq!(outcome, ClaimOutcome::Claimed { retaken: Vec::new() });

    // Past the claim, the hold is due, but its seats stay held until the expiry worker has
    // checked OrderDB, however late it runs: a sale whose marking failed must not look free.
    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(store.due_holds(event, 10).await.unwrap(), [record.hold]);
    let claimed = SeatState::Held(record.hold);
    assert_eq!(states(&store, event, &[6, 7]).await, [claimed, claimed]);

    // With no order, the expiry frees them.
    let freed = expire_due(&store, event, &record).await;
    assert_eq!(seats_of(&freed), seats(&[6, 7]));
    assert_eq!(states(&store, event, &[6, 7]).await, [SeatState::Free, SeatState::Free]);
}

async fn claim_retakes_freed_seats(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let (record, _) = hold_free(&store, event, &buyer, &seats(&[1, 2]), SHORT_TTL).await;
    tokio::time::sleep(PAST_SHORT_TTL).await;
    let freed = expire_due(&store, event, &record).await;

    let outcome = store.claim_for_sale(event, &record, LONG_TTL).await.unwrap();
    let ClaimOutcome::Claimed { retaken } = outcome else {
        panic!("claiming freed seats returned {outcome:?}");
    };
    assert_eq!(seats_of(&retaken), seats(&[1, 2]));
    for index in [1, 2] {
        assert!(version_of(&retaken, index) > version_of(&freed, index), "seat {index}: {freed:?} then {retaken:?}");
    }
    let claimed = SeatState::Held(record.hold);
    assert_eq!(states(&store, event, &[1, 2]).await, [claimed, claimed]);
    let kept = store.hold_record(event, record.hold).await.unwrap().expect("record of a claimed hold");
    assert!(!kept.expired, "a claim clears the expired flag");
    let (_, again) = try_hold(&store, event, &buyer, &seats(&[9]), LONG_TTL).await;
    assert_eq!(again, HoldOutcome::NonceUsed, "the claim binds the nonce again");
}

async fn claim_reports_conflicts(store: SharedStore) {
    let event = random_event();
    let (record, _) = hold_free(&store, event, &Buyer::new(), &seats(&[1, 2, 3]), SHORT_TTL).await;
    tokio::time::sleep(PAST_SHORT_TTL).await;
    expire_due(&store, event, &record).await;
    let (other, _) = hold_free(&store, event, &Buyer::new(), &seats(&[2]), LONG_TTL).await;

    let outcome = store.claim_for_sale(event, &record, LONG_TTL).await.unwrap();
    assert_eq!(outcome, ClaimOutcome::Conflict(seats(&[2])));
    assert_eq!(
        states(&store, event, &[1, 2, 3]).await,
        [SeatState::Free, SeatState::Held(other.hold), SeatState::Free]
    );
}

async fn claim_detects_rebound_nonce(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let (record, _) = hold_free(&store, event, &buyer, &seats(&[1]), SHORT_TTL).await;
    tokio::time::sleep(PAST_SHORT_TTL).await;
    expire_due(&store, event, &record).await;
    hold_free(&store, event, &buyer, &seats(&[7]), LONG_TTL).await;

    let outcome = store.claim_for_sale(event, &record, LONG_TTL).await.unwrap();
    assert_eq!(outcome, ClaimOutcome::NonceRebound);
    assert_eq!(states(&store, event, &[1]).await, [SeatState::Free]);
}

async fn mark_sold_spends_nonce(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let (record, held) = hold_free(&store, event, &buyer, &seats(&[3, 4]), LONG_TTL).await;
    let order = OrderId::random();

    let sold = store.mark_sold(event, &record, order, LONG_TTL).await.unwrap();
    assert_eq!(seats_of(&sold), seats(&[3, 4]));
    for index in [3, 4] {
        assert!(version_of(&sold, index) > version_of(&held, index), "seat {index}: {held:?} then {sold:?}");
    }
    assert_eq!(states(&store, event, &[3, 4]).await, [SeatState::Sold(order), SeatState::Sold(order)]);
    assert_eq!(store.hold_record(event, record.hold).await.unwrap(), None);
    assert_eq!(store.release(event, &record, &buyer.fan).await.unwrap(), ReleaseOutcome::NotFound);
    assert_eq!(store.expire(event, &record).await.unwrap(), ExpireOutcome::Gone);
    assert_eq!(store.hold_stats(event).await.unwrap().seats_sold, 2);

    let (_, again) = try_hold(&store, event, &buyer, &seats(&[9]), LONG_TTL).await;
    assert_eq!(again, HoldOutcome::NonceUsed);
    let (_, taken) = try_hold(&store, event, &Buyer::new(), &seats(&[3]), LONG_TTL).await;
    assert_eq!(taken, HoldOutcome::Unavailable(seats(&[3])));
    assert_eq!(store.mark_sold(event, &record, order, LONG_TTL).await.unwrap(), Vec::new(), "seats already sold");
}

async fn mark_sold_is_unconditional(store: SharedStore) {
    let event = random_event();
    let (other, _) = hold_free(&store, event, &Buyer::new(), &seats(&[1]), LONG_TTL).await;
    // An order PostgreSQL committed for seats the hold store no longer shows as this hold's.
    let stale = HoldRecord {
        hold: HoldId::random(),
        fan: FanId::random(),
        nonce: random_nonce(),
        seats: seats(&[1, 2]),
        expires_at_ms: 0,
        expired: true,
    };
    let order = OrderId::random();

    let sold = store.mark_sold(event, &stale, order, LONG_TTL).await.unwrap();
    assert_eq!(seats_of(&sold), seats(&[1, 2]));
    assert_eq!(states(&store, event, &[1, 2]).await, [SeatState::Sold(order), SeatState::Sold(order)]);
    assert_eq!(store.hold_record(event, other.hold).await.unwrap().map(|record| record.hold), Some(other.hold));
}

async fn repair_sold_marks_missing_sales(store: SharedStore) {
    let event = random_event();
    let (held_record, _) = hold_free(&store, event, &Buyer::new(), &seats(&[6]), LONG_TTL).await;
    let (sold_record, _) = hold_free(&store, event, &Buyer::new(), &seats(&[7]), LONG_TTL).await;
    let first_order = OrderId::random();
    let second_order = OrderId::random();
    let sold_versions = store.mark_sold(event, &sold_record, first_order, LONG_TTL).await.unwrap();
    let again = store.mark_sold(event, &sold_record, first_order, LONG_TTL).await.unwrap();
    assert!(again.is_empty(), "marking the same sale twice changes nothing");

    let repairs = [(seat(5), first_order), (seat(6), second_order), (seat(7), first_order)];
    let changed = store.repair_sold(event, &repairs).await.unwrap();
    assert_eq!(seats_of(&changed), seats(&[5, 6]), "seat 7 already shows its order");
    assert_eq!(
        states(&store, event, &[5, 6, 7]).await,
        [SeatState::Sold(first_order), SeatState::Sold(second_order), SeatState::Sold(first_order)]
    );
    assert_eq!(store.repair_sold(event, &repairs).await.unwrap(), Vec::new());
    assert!(store.hold_record(event, held_record.hold).await.unwrap().is_some());

    let moved = store.repair_sold(event, &[(seat(7), second_order)]).await.unwrap();
    assert_eq!(moved, [SeatVersion { seat: seat(7), version: version_of(&sold_versions, 7) + 1 }]);
    // Seat 7 by mark_sold, seats 5 and 6 by the repair, seat 7 again when it moved.
    assert_eq!(store.hold_stats(event).await.unwrap().seats_sold, 4, "each seat that became sold counts once");
}

async fn hold_stats_count_each_outcome(store: SharedStore) {
    let event = random_event();
    assert_eq!(store.hold_stats(event).await.unwrap(), HoldStats::default());

    let released = Buyer::new();
    let (record, _) = hold_free(&store, event, &released, &seats(&[1]), LONG_TTL).await;
    store.release(event, &record, &released.fan).await.unwrap();
    let (record, _) = hold_free(&store, event, &Buyer::new(), &seats(&[2]), SHORT_TTL).await;
    let (sold, _) = hold_free(&store, event, &Buyer::new(), &seats(&[3, 4, 5]), LONG_TTL).await;
    store.mark_sold(event, &sold, OrderId::random(), LONG_TTL).await.unwrap();
    tokio::time::sleep(PAST_SHORT_TTL).await;
    expire_due(&store, event, &record).await;
    // A failed attempt starts no hold.
    try_hold(&store, event, &Buyer::new(), &seats(&[3]), LONG_TTL).await;

    let stats = store.hold_stats(event).await.unwrap();
    assert_eq!(stats, HoldStats { holds_started: 3, holds_released: 1, holds_expired: 1, seats_sold: 3 });
}

async fn seat_states_report_each_seat(store: SharedStore) {
    let event = random_event();
    let (held, _) = hold_free(&store, event, &Buyer::new(), &seats(&[2]), LONG_TTL).await;
    let (sold, _) = hold_free(&store, event, &Buyer::new(), &seats(&[4]), LONG_TTL).await;
    let order = OrderId::random();
    store.mark_sold(event, &sold, order, LONG_TTL).await.unwrap();

    let expected = [
        SeatState::Sold(order),
        SeatState::Free,
        SeatState::Held(held.hold),
        SeatState::Held(held.hold),
        SeatState::Free,
    ];
    assert_eq!(states(&store, event, &[4, 1, 2, 2, 999_999]).await, expected);
    assert_eq!(store.seat_states(event, &[]).await.unwrap(), Vec::new());
}

async fn versions_increase_per_seat(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let mut history = Vec::new();

    let (record, held) = hold_free(&store, event, &buyer, &seats(&[9]), LONG_TTL).await;
    history.push(("hold", version_of(&held, 9)));
    let ReleaseOutcome::Released(freed) = store.release(event, &record, &buyer.fan).await.unwrap() else {
        panic!("release of a live hold failed");
    };
    history.push(("release", version_of(&freed, 9)));

    let (record, held) = hold_free(&store, event, &buyer, &seats(&[9]), SHORT_TTL).await;
    history.push(("hold again", version_of(&held, 9)));
    tokio::time::sleep(PAST_SHORT_TTL).await;
    history.push(("expire", version_of(&expire_due(&store, event, &record).await, 9)));
    let ClaimOutcome::Claimed { retaken } = store.claim_for_sale(event, &record, LONG_TTL).await.unwrap() else {
        panic!("claim of a freed seat failed");
    };
    history.push(("retake", version_of(&retaken, 9)));
    let sold = store.mark_sold(event, &record, OrderId::random(), LONG_TTL).await.unwrap();
    history.push(("sale", version_of(&sold, 9)));

    assert!(history[0].1 > 0, "{history:?}");
    for pair in history.windows(2) {
        assert!(pair[1].1 > pair[0].1, "version did not increase from {} to {}: {history:?}", pair[0].0, pair[1].0);
    }
    // Another seat keeps a version of its own.
    let (_, other) = hold_free(&store, event, &Buyer::new(), &seats(&[10]), LONG_TTL).await;
    assert_eq!(version_of(&other, 10), history[0].1);
}

// Availability bitmaps.

fn change(index: u32, version: u32, unavailable: bool) -> SeatStateChange {
    SeatStateChange { seat: seat(index), version, unavailable }
}

async fn bitmap_is_none_until_applied(store: SharedStore) {
    let event = random_event();
    assert_eq!(store.bitmap(event).await.unwrap(), None);
    assert_eq!(store.apply_changes(event, &[]).await.unwrap(), 0);
    assert_eq!(store.bitmap(event).await.unwrap(), None);
    // Version 0 is never newer than an unwritten seat's.
    assert_eq!(store.apply_changes(event, &[change(3, 0, true)]).await.unwrap(), 0);
    assert_eq!(store.bitmap(event).await.unwrap(), None);

    // Writing a free bit still creates the bitmap, as long as the highest bit written.
    assert_eq!(store.apply_changes(event, &[change(3, 1, false)]).await.unwrap(), 1);
    assert_eq!(store.bitmap(event).await.unwrap(), Some(vec![0x00]));
}

async fn apply_changes_skips_stale_versions(store: SharedStore) {
    let event = random_event();
    let applied = store.apply_changes(event, &[change(0, 1, true), change(9, 1, true)]).await.unwrap();
    assert_eq!(applied, 2);
    // Redis SETBIT layout: bit i in byte i / 8, most significant bit first.
    assert_eq!(store.bitmap(event).await.unwrap(), Some(vec![0x80, 0x40]));

    assert_eq!(store.apply_changes(event, &[change(0, 1, false)]).await.unwrap(), 0, "a replay is skipped");
    assert_eq!(store.apply_changes(event, &[change(0, 3, false)]).await.unwrap(), 1);
    assert_eq!(store.apply_changes(event, &[change(0, 2, true)]).await.unwrap(), 0, "an older change is skipped");
    assert_eq!(store.bitmap(event).await.unwrap(), Some(vec![0x00, 0x40]));

    // Within one batch, changes apply in order.
    let batch = [change(17, 1, true), change(17, 2, false), change(17, 2, true), change(9, 5, true)];
    assert_eq!(store.apply_changes(event, &batch).await.unwrap(), 3);
    assert_eq!(store.bitmap(event).await.unwrap(), Some(vec![0x00, 0x40, 0x00]));

    let seat_count = 18;
    let bitmap = onsale_shared::SeatBitmap::from_bytes(seat_count, &store.bitmap(event).await.unwrap().unwrap())
        .expect("bitmap fits the seat count");
    let unavailable: Vec<SeatIndex> = (0..seat_count).map(seat).filter(|s| bitmap.is_unavailable(*s)).collect();
    assert_eq!(unavailable, seats(&[9]));
}

async fn rebuild_matches_seat_states(store: SharedStore) {
    let event = random_event();
    let buyer = Buyer::new();
    let (held, held_versions) = hold_free(&store, event, &buyer, &seats(&[1, 3]), LONG_TTL).await;
    let (sold, _) = hold_free(&store, event, &Buyer::new(), &seats(&[10]), LONG_TTL).await;
    store.mark_sold(event, &sold, OrderId::random(), LONG_TTL).await.unwrap();
    // A stale bit: the bitmap shows seat 5 taken, though no hold or sale has it.
    store.apply_changes(event, &[change(5, 1, true)]).await.unwrap();

    let changed = store.rebuild_bitmap(event, 12).await.unwrap();
    assert_eq!(changed, 4, "seats 1, 3 and 10 became unavailable and seat 5 free");
    assert_eq!(store.bitmap(event).await.unwrap(), Some(vec![0x50, 0x20]));
    assert_eq!(store.rebuild_bitmap(event, 12).await.unwrap(), 0);

    // Applied versions now equal the state versions: the hold's own change is old, the next is new.
    let hold_change = change(1, version_of(&held_versions, 1), true);
    assert_eq!(store.apply_changes(event, &[hold_change]).await.unwrap(), 0);
    let next_change = change(3, version_of(&held_versions, 3) + 1, false);
    assert_eq!(store.apply_changes(event, &[next_change]).await.unwrap(), 1);
    assert_eq!(store.bitmap(event).await.unwrap(), Some(vec![0x40, 0x20]));

    store.release(event, &held, &buyer.fan).await.unwrap();
    assert_eq!(store.rebuild_bitmap(event, 12).await.unwrap(), 1, "only seat 1 still showed held");
    assert_eq!(store.bitmap(event).await.unwrap(), Some(vec![0x00, 0x20]));
    // The release's own change, delivered after the rebuild, is recognised as old.
    let release_change = change(1, version_of(&held_versions, 1) + 1, false);
    assert_eq!(store.apply_changes(event, &[release_change]).await.unwrap(), 0);
}

async fn dirty_bitmaps_are_taken_once(store: SharedStore) {
    let events = [random_event(), random_event(), random_event()];
    for event in events.iter().chain([&events[0]]) {
        store.mark_bitmap_dirty(*event).await.unwrap();
    }

    let first = store.take_dirty_bitmaps(2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store.take_dirty_bitmaps(10).await.unwrap();
    assert_eq!(rest.len(), 1);
    let taken: BTreeSet<EventId> = first.iter().chain(&rest).copied().collect();
    assert_eq!(taken, events.iter().copied().collect());
    assert_eq!(store.take_dirty_bitmaps(10).await.unwrap(), Vec::new());
}

// Waiting-room queues.

async fn join_is_idempotent(store: SharedStore) {
    let event = random_event();
    join(&store, event, &FanId::random(), QueueState::Open).await;
    let fan = FanId::random();

    let tasks: Vec<JoinHandle<JoinOutcome>> = (0..5)
        .map(|_| {
            let store = Arc::clone(&store);
            let fan = fan.clone();
            tokio::spawn(async move { join(&store, event, &fan, QueueState::Open).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("join task panicked"), JoinOutcome::Queued { rank: 1, paused: false });
    }
    assert_eq!(join(&store, event, &fan, QueueState::Open).await, JoinOutcome::Queued { rank: 1, paused: false });

    let counters = meta(&store, event, QueueState::Open).await;
    assert_eq!((counters.joined, counters.waiting), (2, 2));
}

async fn ranks_follow_join_order(store: SharedStore) {
    let event = random_event();
    let fans: Vec<FanId> = (0..10).map(|_| FanId::random()).collect();
    for (rank, fan) in fans.iter().enumerate() {
        let outcome = join(&store, event, fan, QueueState::Open).await;
        assert_eq!(outcome, JoinOutcome::Queued { rank: rank as u64, paused: false });
    }
    for (rank, fan) in fans.iter().enumerate() {
        assert_eq!(status(&store, event, fan).await, StatusOutcome::Queued { rank: rank as u64, paused: false });
    }
    assert_eq!(store.peek_queue(event, 3).await.unwrap(), fans[..3]);
    assert_eq!(store.peek_queue(event, 100).await.unwrap(), fans);
    assert_eq!(store.peek_queue(event, 0).await.unwrap(), Vec::<FanId>::new());
}

async fn status_without_join(store: SharedStore) {
    let event = random_event();
    let fan = FanId::random();
    assert_eq!(status(&store, event, &fan).await, StatusOutcome::NotQueued(QueueState::Open));
    let not_open = store.queue_status(event, &fan, QueueState::NotOpen).await.unwrap();
    assert_eq!(not_open, StatusOutcome::NotQueued(QueueState::NotOpen));

    let expected = QueueMeta {
        state: QueueState::NotOpen,
        rate: None,
        joined: 0,
        admitted: 0,
        waiting: 0,
        prequeued: 0,
        measured_rate: 0.0,
    };
    assert_eq!(meta(&store, event, QueueState::NotOpen).await, expected);
    assert_eq!(store.peek_queue(event, 10).await.unwrap(), Vec::<FanId>::new());
}

async fn open_places_prequeue_in_random_order(store: SharedStore) {
    let event = random_event();
    let early: Vec<FanId> = (0..30).map(|_| FanId::random()).collect();
    for fan in &early {
        assert_eq!(join(&store, event, fan, QueueState::NotOpen).await, JoinOutcome::Prequeue);
    }
    assert_eq!(join(&store, event, &early[0], QueueState::NotOpen).await, JoinOutcome::Prequeue);
    assert_eq!(status(&store, event, &early[0]).await, StatusOutcome::Prequeue);
    let before = meta(&store, event, QueueState::NotOpen).await;
    assert_eq!((before.state, before.joined, before.prequeued, before.waiting), (QueueState::NotOpen, 30, 30, 0));

    assert_eq!(store.open_queue(event).await.unwrap(), 30);
    let late = FanId::random();
    assert_eq!(join(&store, event, &late, QueueState::NotOpen).await, JoinOutcome::Queued { rank: 30, paused: false });

    let mut ranks = Vec::new();
    for fan in &early {
        match status(&store, event, fan).await {
            StatusOutcome::Queued { rank, paused: false } => ranks.push(rank),
            other => panic!("a prequeued fan after the open: {other:?}"),
        }
    }
    assert_eq!(ranks.iter().copied().collect::<BTreeSet<u64>>(), (0..30).collect(), "ranks {ranks:?}");
    let in_join_order: Vec<u64> = (0..30).collect();
    assert_ne!(ranks, in_join_order, "the prequeue was placed in join order");
    assert_eq!(store.peek_queue(event, 31).await.unwrap().last(), Some(&late));

    let after = meta(&store, event, QueueState::NotOpen).await;
    assert_eq!((after.state, after.joined, after.prequeued, after.waiting), (QueueState::Open, 31, 0, 31));
    assert_eq!(store.open_queue(event).await.unwrap(), 0);
}

async fn admit_needs_lease_and_open_queue(store: SharedStore) {
    let event = random_event();
    let fans: Vec<FanId> = (0..3).map(|_| FanId::random()).collect();
    for fan in &fans {
        join(&store, event, fan, QueueState::Open).await;
    }
    let first = vec![(fans[0].clone(), admission("token-0"))];

    let outcome = store.admit(event, "admitter-a", &first, LONG_TTL).await.unwrap();
    assert_eq!(outcome, AdmitOutcome::LeaseLost, "admit without the lease");
    assert!(store.acquire_lease(event, "admitter-a", LONG_TTL).await.unwrap());

    for closed_state in [QueueState::Paused, QueueState::NotOpen, QueueState::Closed] {
        store.set_queue_state(event, closed_state).await.unwrap();
        let outcome = store.admit(event, "admitter-a", &first, LONG_TTL).await.unwrap();
        assert_eq!(outcome, AdmitOutcome::Idle, "admit while {closed_state:?}");
    }
    store.set_queue_state(event, QueueState::Paused).await.unwrap();
    assert_eq!(status(&store, event, &fans[0]).await, StatusOutcome::Queued { rank: 0, paused: true });

    store.set_queue_state(event, QueueState::Open).await.unwrap();
    let batch = vec![
        (fans[0].clone(), admission("token-0")),
        (fans[1].clone(), admission("token-1")),
        (FanId::random(), admission("token-never-queued")),
    ];
    assert_eq!(store.admit(event, "admitter-a", &batch, LONG_TTL).await.unwrap(), AdmitOutcome::Admitted(2));
    assert_eq!(status(&store, event, &fans[0]).await, StatusOutcome::Admitted(admission("token-0")));
    assert_eq!(status(&store, event, &fans[2]).await, StatusOutcome::Queued { rank: 0, paused: false });
    assert_eq!(status(&store, event, &batch[2].0).await, StatusOutcome::NotQueued(QueueState::Open));
    let counters = meta(&store, event, QueueState::Open).await;
    assert_eq!((counters.admitted, counters.waiting), (2, 1));
}

async fn admitted_fan_gets_token_until_ttl(store: SharedStore) {
    let event = random_event();
    let fan = FanId::random();
    join(&store, event, &fan, QueueState::Open).await;
    assert!(store.acquire_lease(event, "admitter", LONG_TTL).await.unwrap());
    let token = admission("signed-token with spaces");

    let batch = vec![(fan.clone(), token.clone())];
    assert_eq!(store.admit(event, "admitter", &batch, SHORT_TTL).await.unwrap(), AdmitOutcome::Admitted(1));
    assert_eq!(join(&store, event, &fan, QueueState::Open).await, JoinOutcome::Admitted(token.clone()));
    assert_eq!(status(&store, event, &fan).await, StatusOutcome::Admitted(token));
    assert_eq!(store.peek_queue(event, 10).await.unwrap(), Vec::<FanId>::new());

    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert_eq!(status(&store, event, &fan).await, StatusOutcome::NotQueued(QueueState::Open));
}

async fn lease_is_exclusive_until_expiry(store: SharedStore) {
    let event = random_event();
    assert!(store.acquire_lease(event, "admitter-a", SHORT_TTL).await.unwrap());
    assert!(!store.acquire_lease(event, "admitter-b", SHORT_TTL).await.unwrap());
    assert!(store.acquire_lease(event, "admitter-a", SHORT_TTL).await.unwrap(), "the holder renews");

    tokio::time::sleep(PAST_SHORT_TTL).await;
    assert!(store.acquire_lease(event, "admitter-b", LONG_TTL).await.unwrap(), "an expired lease is free");
    assert!(!store.acquire_lease(event, "admitter-a", LONG_TTL).await.unwrap());

    let fan = FanId::random();
    join(&store, event, &fan, QueueState::Open).await;
    let batch = vec![(fan.clone(), admission("token"))];
    assert_eq!(store.admit(event, "admitter-a", &batch, LONG_TTL).await.unwrap(), AdmitOutcome::LeaseLost);
    assert_eq!(status(&store, event, &fan).await, StatusOutcome::Queued { rank: 0, paused: false });
    assert_eq!(store.admit(event, "admitter-b", &batch, LONG_TTL).await.unwrap(), AdmitOutcome::Admitted(1));
}

async fn queue_meta_counts(store: SharedStore) {
    let event = random_event();
    for _ in 0..2 {
        join(&store, event, &FanId::random(), QueueState::NotOpen).await;
    }
    let before = meta(&store, event, QueueState::NotOpen).await;
    assert_eq!((before.joined, before.prequeued, before.waiting), (2, 2, 0));

    store.open_queue(event).await.unwrap();
    for _ in 0..3 {
        join(&store, event, &FanId::random(), QueueState::NotOpen).await;
    }
    assert!(store.acquire_lease(event, "admitter", LONG_TTL).await.unwrap());
    let front = store.peek_queue(event, 2).await.unwrap();
    let batch: Vec<_> = front.into_iter().map(|fan| (fan, admission("token"))).collect();
    store.admit(event, "admitter", &batch, LONG_TTL).await.unwrap();
    store.set_queue_rate(event, 1200).await.unwrap();
    store.record_admission_rate(event, 2500.0).await.unwrap();

    let expected = QueueMeta {
        state: QueueState::Open,
        rate: Some(1200),
        joined: 5,
        admitted: 2,
        waiting: 3,
        prequeued: 0,
        measured_rate: 2500.0,
    };
    assert_eq!(meta(&store, event, QueueState::NotOpen).await, expected);

    store.set_queue_state(event, QueueState::Paused).await.unwrap();
    assert_eq!(meta(&store, event, QueueState::Open).await.state, QueueState::Paused);
    let paused = join(&store, event, &FanId::random(), QueueState::Open).await;
    assert_eq!(paused, JoinOutcome::Queued { rank: 3, paused: true });
    assert_eq!(meta(&store, event, QueueState::Open).await.joined, 6);
}

/// Fans leave the queue in join order, batch by batch, and everyone behind moves up.
async fn admission_follows_join_order(store: SharedStore) {
    let event = random_event();
    let fans: Vec<FanId> = (0..40).map(|_| FanId::random()).collect();
    for fan in &fans {
        join(&store, event, fan, QueueState::Open).await;
    }
    assert!(store.acquire_lease(event, "admitter", LONG_TTL).await.unwrap());
    let mut admitted = 0;
    while admitted < fans.len() {
        let front = store.peek_queue(event, 7).await.unwrap();
        assert_eq!(front, fans[admitted..(admitted + 7).min(fans.len())], "front after {admitted} admissions");
        let batch: Vec<_> = front.iter().map(|fan| (fan.clone(), admission("token"))).collect();
        let outcome = store.admit(event, "admitter", &batch, LONG_TTL).await.unwrap();
        assert_eq!(outcome, AdmitOutcome::Admitted(front.len() as u64));
        admitted += front.len();
        if admitted < fans.len() {
            let last = fans.last().expect("40 fans");
            let rank = (fans.len() - 1 - admitted) as u64;
            assert_eq!(status(&store, event, last).await, StatusOutcome::Queued { rank, paused: false });
            assert_eq!(status(&store, event, &fans[admitted]).await, StatusOutcome::Queued { rank: 0, paused: false });
        }
    }
    let counters = meta(&store, event, QueueState::Open).await;
    assert_eq!((counters.joined, counters.admitted, counters.waiting), (40, 40, 0));
}

async fn closed_queue_rejects_join(store: SharedStore) {
    let event = random_event();
    let queued = FanId::random();
    join(&store, event, &queued, QueueState::Open).await;
    store.set_queue_state(event, QueueState::Closed).await.unwrap();

    let late = FanId::random();
    assert_eq!(join(&store, event, &late, QueueState::Open).await, JoinOutcome::Closed);
    assert_eq!(join(&store, event, &queued, QueueState::Open).await, JoinOutcome::Closed);
    assert_eq!(status(&store, event, &late).await, StatusOutcome::NotQueued(QueueState::Closed));
    assert_eq!(status(&store, event, &queued).await, StatusOutcome::NotQueued(QueueState::Closed));
    let counters = meta(&store, event, QueueState::Open).await;
    assert_eq!((counters.state, counters.joined, counters.waiting), (QueueState::Closed, 1, 1));
}

// Events.

async fn active_events_lists_activated(store: SharedStore) {
    let events = [random_event(), random_event()];
    assert_eq!(store.active_events().await.unwrap(), Vec::new());
    for event in events.iter().chain([&events[0]]) {
        store.activate_event(*event).await.unwrap();
    }
    let active: HashSet<EventId> = store.active_events().await.unwrap().into_iter().collect();
    assert_eq!(active, events.into_iter().collect());
    assert_eq!(store.active_events().await.unwrap().len(), 2);
}

async fn ping_succeeds(store: SharedStore) {
    store.ping().await.expect("ping");
    assert!(["memory", "redis"].contains(&store.backend()), "backend {}", store.backend());
}
