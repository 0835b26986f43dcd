#!/usr/bin/env bash
# Runs a load test on the real engines: 100,000 fans against a 60,000-seat stadium.
#   1. starts the Redis Cluster and the Kafka broker (scripts/services.sh) and checks PostgreSQL;
#   2. builds the `onsale` binary (release);
#   3. recreates the database `onsale_loadtest`, empties the local Redis Cluster, migrates, and
#      seeds one event on a generated stadium of ONSALE_LOADTEST_SEATS seats;
#   4. runs `onsale up` (every role in one process) on 127.0.0.1:${ONSALE_LOADTEST_PORT:-8090};
#   5. runs `onsale loadtest` against it, prints the report, and writes the JSON report and the
#      plots to var/loadtest/;
#   6. stops `onsale up`. The services keep running; `scripts/services.sh stop` stops them.
#
# Environment: ONSALE_LOADTEST_PORT (default 8090), ONSALE_LOADTEST_SEATS (default 60000),
# ONSALE_DEMO_FANS (default 100000), ONSALE_DEMO_ADMISSION_RATE (default 2500 a second),
# ONSALE_DEMO_CONCURRENCY (default 5000), ONSALE_HOLD_TTL (default 120s), and every other
# option of `onsale loadtest --help`. Arguments are passed on to `onsale loadtest`.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf '[loadtest] %s\n' "$*" >&2; }

port="${ONSALE_LOADTEST_PORT:-8090}"
seats="${ONSALE_LOADTEST_SEATS:-60000}"
state="$repo/var/loadtest"
database=onsale_loadtest
mkdir -p "$state"

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

export ONSALE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$database"
export ONSALE_REDIS_URL="$ONSALE_TEST_REDIS_CLUSTER"
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
EOF
"$onsale" seed --csv "$state/event.csv" --tour-name "onsale load test"

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
log "running $ONSALE_DEMO_FANS fans at $ONSALE_DEMO_ADMISSION_RATE admissions a second"
"$onsale" loadtest --platform-pid "$up_pid" --plots "$state/plots" --output "$state/report.json" "$@"
