#!/usr/bin/env bash
# Runs a load test on the real engines: 100,000 fans against a 60,000-seat stadium.
#   1. starts the Redis Cluster and the Kafka broker (scripts/services.sh) and checks PostgreSQL;
#   2. builds the `onsale` binary (release);
#   3. recreates the database `onsale_loadtest`, empties the local Redis Cluster, migrates, and
#      seeds two events on a generated stadium of ONSALE_LOADTEST_SEATS seats: the sale's, on
#      2026-12-31, and the open-loop hold test's, on 2027-01-02;
#   4. measures the engine ceilings with bench/engine-ceilings.sh on the same engines while
#      they are idle: the Redis Cluster primary that serves the event's slot, the same
#      PostgreSQL server and the same Kafka broker. It writes var/loadtest/ceilings.json. One
#      run of each measurement took 4 minutes on a 2-CPU machine that also ran a test suite.
#      Then the join_scaling example measures joins of one queue of 1 and of
#      ONSALE_REDIS_QUEUE_SHARDS shards on the same cluster (var/loadtest/join-scaling.json);
#   5. runs `onsale up` (every role in one process) on 127.0.0.1:${ONSALE_LOADTEST_PORT:-8090};
#   6. runs the open-loop hold test on the second event (`onsale loadtest --hold-rates`, written
#      to var/loadtest/holds.json), then `onsale loadtest` against the first with --ceilings
#      var/loadtest/ceilings.json, prints the report, and writes the JSON report and the plots
#      to var/loadtest/;
#   7. stops `onsale up`. The services keep running; `scripts/services.sh stop` stops them.
#
# Environment: ONSALE_LOADTEST_PORT (default 8090), ONSALE_LOADTEST_SEATS (default 60000),
# ONSALE_DEMO_FANS (default 100000), ONSALE_DEMO_ADMISSION_RATE (default 2500 a second),
# ONSALE_DEMO_CONCURRENCY (default 5000), ONSALE_HOLD_TTL (default 120s), and every other
# option of `onsale loadtest --help`. Arguments are passed on to `onsale loadtest`.
# ONSALE_LOADTEST_CEILINGS=0 skips step 4, and the report then has no ceilings (default 1).
# ONSALE_LOADTEST_CEILINGS_RUNS sets the runs of each ceiling measurement, whose median the
# JSON gives (default 1). ONSALE_LOADTEST_CEILINGS_ARGS adds options of engine-ceilings.sh,
# separated by spaces, such as --quick or --kafka-rate 200.
# ONSALE_REDIS_QUEUE_SHARDS sets the queue shards (default 3, one per primary).
# ONSALE_LOADTEST_HOLD_RATES sets the hold test's steps in holds a second (default
# 1000,2500,5000), or none to skip it; ONSALE_LOADTEST_HOLD_STEP the length of each (default 10s).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf '[loadtest] %s\n' "$*" >&2; }

port="${ONSALE_LOADTEST_PORT:-8090}"
seats="${ONSALE_LOADTEST_SEATS:-60000}"
measure_ceilings="${ONSALE_LOADTEST_CEILINGS:-1}"
ceilings_runs="${ONSALE_LOADTEST_CEILINGS_RUNS:-1}"
read -r -a ceilings_extra_args <<<"${ONSALE_LOADTEST_CEILINGS_ARGS:-}"
state="$repo/var/loadtest"
database=onsale_loadtest
postgres_server=postgres://postgres@127.0.0.1:5432
mkdir -p "$state"

[[ "$measure_ceilings" == 0 || "$measure_ceilings" == 1 ]] ||
    { log "ONSALE_LOADTEST_CEILINGS must be 0 or 1, got '$measure_ceilings'"; exit 2; }
[[ "$ceilings_runs" =~ ^[1-9][0-9]*$ ]] ||
    { log "ONSALE_LOADTEST_CEILINGS_RUNS must be a positive integer, got '$ceilings_runs'"; exit 2; }

# Every fan in flight keeps a socket open in each process, so raise the open-file limit to the maximum.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bash scripts/services.sh start
eval "$(bash scripts/services.sh env)"

log "building onsale (release)"
cargo build --release -p onsale-origin
onsale="${CARGO_TARGET_DIR:-$repo/target}/release/onsale"

if [[ ! -f "$state/keys.env" ]]; then
    log "making keys in var/loadtest/keys.env"
    (umask 077 && "$onsale" keygen >"$state/keys.env")
fi
set -a
# shellcheck source=/dev/null
source "$state/keys.env"
set +a

export ONSALE_DATABASE_URL="$postgres_server/$database"
export ONSALE_REDIS_URL="$ONSALE_TEST_REDIS_CLUSTER"
export ONSALE_REDIS_QUEUE_SHARDS="${ONSALE_REDIS_QUEUE_SHARDS:-3}"
export ONSALE_KAFKA_BROKERS="$ONSALE_TEST_KAFKA_BROKERS"
export ONSALE_MAIL_DIR="$state/mail"
export ONSALE_LISTEN="127.0.0.1:$port"
# Long enough that a paying fan's hold outlives a slow confirmation under load; the abandoned
# holds expire while the load test waits for them.
export ONSALE_HOLD_TTL="${ONSALE_HOLD_TTL:-120s}"

log "recreating database $database and emptying the Redis Cluster"
psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -d test -qc "CREATE DATABASE $database"
# Replicas refuse FLUSHALL; the primaries empty, and the replicas follow them.
redis-cli --cluster call "127.0.0.1:${ONSALE_REDIS_CLUSTER_BASE_PORT:-7000}" FLUSHALL >/dev/null 2>&1 || true
rm -rf "$ONSALE_MAIL_DIR" "$state/plots"

"$onsale" migrate
log "seeding one event on a stadium of about $seats seats"
cat >"$state/event.csv" <<EOF
date,city,state,country,venue,venue_capacity_or_reported_attendance,source
2026-12-31,East Rutherford,NJ,US,Load Test Stadium,$seats,onsale load test
2027-01-02,East Rutherford,NJ,US,Load Test Stadium,$seats,onsale load test
EOF
"$onsale" seed --csv "$state/event.csv" --tour-name "onsale load test"

# Prints HOST:PORT of the Redis Cluster primary that serves slot $1, from CLUSTER NODES of the
# node on port $2. After the 8 fixed fields, a line lists the slots its node serves, each as
# "start-end" or a single slot. A field in brackets marks a slot in migration.
cluster_primary_for_slot() {
    redis-cli -h 127.0.0.1 -p "$2" CLUSTER NODES | awk -v slot="$1" '
        $3 ~ /master/ && $3 !~ /fail/ {
            for (i = 9; i <= NF; i++) {
                if ($i ~ /^\[/) continue
                n = split($i, bounds, "-")
                if (slot + 0 >= bounds[1] + 0 && slot + 0 <= bounds[n] + 0) { sub(/@.*/, "", $2); print $2; exit }
            }
        }'
}

ceilings_args=()
# tansu 0.6 falls behind at engine-ceilings.sh's default of 2,000 messages a second, and its
# round trip then measures the backlog. 200 a second measures the broker's own latency.
export ONSALE_BENCH_KAFKA_RATE="${ONSALE_BENCH_KAFKA_RATE:-200}"
if [[ "$measure_ceilings" == 1 ]]; then
    # The seeded event's seats, holds and first queue shard have the hash tag
    # {<namespace>:e<event id>} (EventKeys in origin/src/store/redis/mod.rs), so one primary
    # serves them. The ceilings run there, with every benchmark key in a slot of that primary.
    event_ids="$(psql -h 127.0.0.1 -U postgres -d "$database" -qAtc "SELECT id FROM events WHERE local_date = '2026-12-31'")"
    if [[ ! "$event_ids" =~ ^[0-9]+$ ]]; then
        log "expected one seeded event on 2026-12-31 in database $database, found the ids: ${event_ids:-none}"
        exit 1
    fi
    event_tag="{${ONSALE_REDIS_NAMESPACE:-onsale}:e$event_ids}"
    cluster_port="${ONSALE_REDIS_CLUSTER_BASE_PORT:-7000}"
    event_slot="$(redis-cli -h 127.0.0.1 -p "$cluster_port" CLUSTER KEYSLOT "$event_tag")"
    event_primary="$(cluster_primary_for_slot "$event_slot" "$cluster_port")"
    if [[ -z "$event_primary" ]]; then
        log "no Redis Cluster primary serves slot $event_slot of $event_tag; see: redis-cli --cluster check 127.0.0.1:$cluster_port"
        exit 1
    fi

    log "measuring the engine ceilings ($ceilings_runs run(s)) on the idle engines: Redis Cluster primary $event_primary (slot $event_slot of $event_tag), PostgreSQL $postgres_server, Kafka $ONSALE_TEST_KAFKA_BROKERS"
    # Into a scratch file first, so that a failed measurement leaves no partial ceilings.json.
    bash bench/engine-ceilings.sh --runs "$ceilings_runs" --cargo-profile release \
        --redis "$event_primary" --postgres "$postgres_server/postgres" \
        --kafka "$ONSALE_TEST_KAFKA_BROKERS" "${ceilings_extra_args[@]}" >"$state/ceilings.json.partial"
    mv "$state/ceilings.json.partial" "$state/ceilings.json"
    ceilings_args=(--ceilings "$state/ceilings.json")

    log "measuring joins of one queue of 1 and of $ONSALE_REDIS_QUEUE_SHARDS shards"
    cargo run --release -q -p onsale-origin --example join_scaling -- \
        --redis "$ONSALE_TEST_REDIS_CLUSTER" --shards "1,$ONSALE_REDIS_QUEUE_SHARDS" >"$state/join-scaling.json"
fi

log "starting onsale up on 127.0.0.1:$port"
"$onsale" up >"$state/up.log" 2>&1 &
up_pid=$!
trap 'kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true' EXIT

ready=no
for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
        ready=yes
        break
    fi
    if ! kill -0 "$up_pid" 2>/dev/null; then
        log "onsale up exited; its log follows"
        cat "$state/up.log" >&2
        exit 1
    fi
    sleep 0.5
done
if [[ "$ready" != yes ]]; then
    log "onsale up did not become ready within 60 s; see $state/up.log"
    exit 1
fi

export ONSALE_DEMO_URL="http://127.0.0.1:$port"
export ONSALE_DEMO_ADMIN_TOKEN="$ONSALE_ADMIN_TOKEN"
export ONSALE_DEMO_DATE=2026-12-31
export ONSALE_DEMO_CITY="East Rutherford"
export ONSALE_DEMO_FANS="${ONSALE_DEMO_FANS:-100000}"
export ONSALE_DEMO_ADMISSION_RATE="${ONSALE_DEMO_ADMISSION_RATE:-2500}"
export ONSALE_DEMO_CONCURRENCY="${ONSALE_DEMO_CONCURRENCY:-5000}"
# A fan's whole script, and the wait for the last ticket emails after the sale.
export ONSALE_DEMO_TIMEOUT="${ONSALE_DEMO_TIMEOUT:-600s}"
hold_rates="${ONSALE_LOADTEST_HOLD_RATES:-1000,2500,5000}"
if [[ "$hold_rates" != none ]]; then
    log "open-loop hold test at $hold_rates holds a second, on the event of 2027-01-02"
    ONSALE_DEMO_DATE=2027-01-02 "$onsale" loadtest --hold-rates "$hold_rates" --output "$state/holds.json"
fi

log "running $ONSALE_DEMO_FANS fans at $ONSALE_DEMO_ADMISSION_RATE admissions a second"
# ONSALE_LOADTEST_HOLD_RATES is also the environment variable of --hold-rates, which would turn
# the sale into another hold test, so the sale runs without it.
env -u ONSALE_LOADTEST_HOLD_RATES \
    "$onsale" loadtest --platform-pid "$up_pid" --plots "$state/plots" --output "$state/report.json" \
    "${ceilings_args[@]}" "$@"
