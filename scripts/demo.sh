#!/usr/bin/env bash
# Brings onsale up on real engines and runs the scripted onsale against it:
#   1. starts the Redis Cluster and the Kafka broker (scripts/services.sh) and checks PostgreSQL;
#   2. builds the `onsale` binary (release);
#   3. recreates the database `onsale_demo`, empties the local Redis Cluster, migrates and
#      seeds the 2023 tour dates;
#   4. runs `onsale up` (every role in one process) on 127.0.0.1:${ONSALE_DEMO_PORT:-8080};
#   5. runs `onsale demo` against it and prints the report;
#   6. stops `onsale up`. The services keep running; `scripts/services.sh stop` stops them.
#
# Environment: ONSALE_DEMO_PORT (default 8080), ONSALE_DEMO_FANS (default 3000), and any other
# ONSALE_DEMO_* option of `onsale demo --help`. Keys are made once and kept in var/demo/keys.env.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf '[demo] %s\n' "$*" >&2; }

port="${ONSALE_DEMO_PORT:-8080}"
state="$repo/var/demo"
database=onsale_demo
mkdir -p "$state"

bash scripts/services.sh start
eval "$(bash scripts/services.sh env)"

log "building onsale (release)"
cargo build --release -p onsale-origin
onsale="${CARGO_TARGET_DIR:-$repo/target}/release/onsale"

if [[ ! -f "$state/keys.env" ]]; then
    log "making keys in var/demo/keys.env"
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
# A short hold TTL, so the holds that demo fans abandon expire while the demo watches.
export ONSALE_HOLD_TTL="${ONSALE_HOLD_TTL:-30s}"

log "recreating database $database and emptying the Redis Cluster"
psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"
psql -h 127.0.0.1 -U postgres -d test -qc "CREATE DATABASE $database"
# Replicas refuse FLUSHALL; the primaries empty, and the replicas follow them.
redis-cli --cluster call "127.0.0.1:${ONSALE_REDIS_CLUSTER_BASE_PORT:-7000}" FLUSHALL >/dev/null 2>&1 || true
rm -rf "$ONSALE_MAIL_DIR"

"$onsale" migrate
log "seeding the 2023 tour dates"
"$onsale" seed

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
"$onsale" demo "$@"
