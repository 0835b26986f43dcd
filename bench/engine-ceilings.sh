#!/usr/bin/env bash
# Measure the ceilings of the engines under onsale's hot paths, so that a load test can report
# each path as a fraction of what its engine sustains on the same machine in the same run:
#   - Redis (redis-benchmark): EVALSHA of the origin's own HOLD script on 4 free seats, one
#     request at a time and pipelined 16 deep per connection, SET NX, and ZADD NX pipelined
#     16 deep;
#   - PostgreSQL (pgbench): durable INSERTs of 4 seat rows per transaction into a table shaped
#     like onsale's order_seats, in a scratch database that the script creates and drops;
#   - Kafka, when --kafka is given (the kafka_round_trip example): the send-to-receive latency
#     of 100-byte messages at a fixed rate, once with latency-tuned producer settings and once
#     with the origin's seat-change producer settings. Also messages per second end to end at
#     the maximum rate. Each run uses a scratch topic that the example creates and deletes.
# It prints a table for people on stderr and one JSON object on stdout. bench/README.md explains
# each measurement and lists figures measured with it.
#
# Usage: bench/engine-ceilings.sh [options] > ceilings.json
#   --redis HOST:PORT    a single Redis node or a Redis Cluster primary (env ONSALE_BENCH_REDIS).
#                        On a primary, every key carries one hash tag whose slot that primary
#                        serves, and a replica is rejected. Without --redis, the script starts a
#                        private redis-server on the first free port of 127.0.0.1 from 7400 on,
#                        without persistence, and stops it at exit.
#   --postgres URL       a postgres:// URL whose user may create databases
#                        (env ONSALE_BENCH_POSTGRES_URL,
#                        default postgres://postgres@127.0.0.1:5432/postgres). The script
#                        connects to it only to create and drop its scratch database
#                        onsale_bench_<run id>.
#   --runs N             repetitions of each measurement; the JSON gives the median
#                        (env ONSALE_BENCH_RUNS, default 3)
#   --quick              a tenth of the Redis requests and Kafka messages, and 5-second pgbench
#                        runs: a smoke test, whose figures vary more
#   --hold-script FILE   the HOLD script's Lua source. Default: printed by
#                        `cargo run -q -p onsale-origin --example print_hold_script`
#   --cargo-profile NAME the cargo profile of the examples that the script builds and runs
#                        (env ONSALE_BENCH_CARGO_PROFILE, default dev). scripts/loadtest.sh
#                        passes release, which it has built already.
#   --kafka HOST:PORT    a Kafka broker (env ONSALE_BENCH_KAFKA). Without it, the Kafka
#                        measurements are skipped and the JSON's kafka section is null.
#   --kafka-rate N       messages per second of the fixed-rate Kafka runs
#                        (env ONSALE_BENCH_KAFKA_RATE, default 2000)
#   --kafka-keep-topics  leave the scratch topics on the broker. Needed on a tansu 0.6 broker
#                        without the trigger that scripts/services.sh installs, where deleting
#                        one topic deletes every topic.
#   --skip-redis, --skip-postgres
#                        leave one engine out; its JSON section is then null
#
# On a Redis given by --redis, every key the script writes starts with {onsale_bench_<run id>},
# or on a cluster primary with {onsale_bench_<run id>_<n>}, and is deleted at the end. The
# script never flushes a database there. Needs bash, redis-cli and redis-benchmark
# (Debian: redis-tools), redis-server for a private Redis (Debian: redis-server),
# psql and pgbench (Debian: postgresql-client), awk, sed and sha1sum, and cargo unless
# --hold-script is given and --kafka is not.

set -euo pipefail
# Let a failure inside $(...) stop the script too.
shopt -s inherit_errexit

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

# Settings of the measurements, explained in bench/README.md.
REDIS_CLIENTS=50
HOLD_REQUESTS=200000
# The origin sends its holds over one multiplexed connection, which puts many requests in
# flight per connection, so the pipelined EVALSHA is the ceiling that client is measured against.
HOLD_PIPELINE=16
HOLD_PIPELINED_REQUESTS=400000
SET_REQUESTS=1000000
ZADD_REQUESTS=2000000
ZADD_PIPELINE=16
# redis-benchmark replaces each __rand_int__ with its own random 12-digit number below this.
# With 200,000 holds of 4 seats among 10^9 seat keys, under 0.5 % of the holds find a seat taken.
RANDOM_KEYSPACE=1000000000
# The origin's default hold TTL (ONSALE_HOLD_TTL) and hold-record grace period, in ms.
HOLD_TTL_MS=600000
HOLD_RECORD_GRACE_MS=3600000
# Seat indexes passed as ARGV. They are fixed because the script uses each one as a BITFIELD
# offset, and Redis rejects the zero-padded numbers that __rand_int__ expands to. The indexes
# are spread over a 72,483-seat stadium, so the seat-versions string has a stadium's size.
HOLD_SEAT_INDEXES=(18000 36000 54000 72000)
# The origin's default database pool size (ONSALE_DATABASE_MAX_CONNECTIONS).
PG_CLIENTS=20
PG_THREADS=2
PG_SECONDS=20
SEATS_PER_ORDER=4
SEAT_PRICE_CENTS=12500
PRIVATE_REDIS_FIRST_PORT=7400
PRIVATE_REDIS_LAST_PORT=7499
# Kafka: messages per fixed-rate run (10 s of sending at the default 2000/s), and messages per
# run at the maximum rate.
KAFKA_MESSAGES=20000
KAFKA_MAX_RATE_MESSAGES=100000

usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
    echo "engine-ceilings: $*" >&2
    exit 1
}

log() {
    echo "engine-ceilings: $*" >&2
}

REDIS_ADDRESS="${ONSALE_BENCH_REDIS:-}"
POSTGRES_URL="${ONSALE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
RUNS="${ONSALE_BENCH_RUNS:-3}"
KAFKA_ADDRESS="${ONSALE_BENCH_KAFKA:-}"
KAFKA_RATE="${ONSALE_BENCH_KAFKA_RATE:-2000}"
KAFKA_TOPIC_OPTIONS=()
HOLD_SCRIPT_FILE=""
CARGO_PROFILE="${ONSALE_BENCH_CARGO_PROFILE:-dev}"
RUN_REDIS=1
RUN_POSTGRES=1

while [[ $# -gt 0 ]]; do
    case "$1" in
        --redis) REDIS_ADDRESS="${2:?--redis needs HOST:PORT}"; shift 2 ;;
        --postgres) POSTGRES_URL="${2:?--postgres needs a postgres:// URL}"; shift 2 ;;
        --kafka) KAFKA_ADDRESS="${2:?--kafka needs HOST:PORT}"; shift 2 ;;
        --kafka-rate) KAFKA_RATE="${2:?--kafka-rate needs a number}"; shift 2 ;;
        --kafka-keep-topics) KAFKA_TOPIC_OPTIONS=(--keep-topic); shift ;;
        --runs) RUNS="${2:?--runs needs a number}"; shift 2 ;;
        --quick)
            HOLD_REQUESTS=$((HOLD_REQUESTS / 10))
            HOLD_PIPELINED_REQUESTS=$((HOLD_PIPELINED_REQUESTS / 10))
            SET_REQUESTS=$((SET_REQUESTS / 10))
            ZADD_REQUESTS=$((ZADD_REQUESTS / 10))
            PG_SECONDS=5
            KAFKA_MESSAGES=$((KAFKA_MESSAGES / 10))
            KAFKA_MAX_RATE_MESSAGES=$((KAFKA_MAX_RATE_MESSAGES / 10))
            shift ;;
        --hold-script) HOLD_SCRIPT_FILE="${2:?--hold-script needs a file}"; shift 2 ;;
        --cargo-profile) CARGO_PROFILE="${2:?--cargo-profile needs a profile name}"; shift 2 ;;
        --skip-redis) RUN_REDIS=0; shift ;;
        --skip-postgres) RUN_POSTGRES=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1'; run with --help for the options" ;;
    esac
done

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$RUNS'"
[[ "$CARGO_PROFILE" =~ ^[A-Za-z0-9_-]+$ ]] || die "--cargo-profile must be a cargo profile name such as dev or release, got '$CARGO_PROFILE'"
RUN_KAFKA=0
if [[ -n "$KAFKA_ADDRESS" ]]; then
    [[ "$KAFKA_ADDRESS" =~ ^[^,:]+:[0-9]+$ ]] || die "--kafka must be HOST:PORT, got '$KAFKA_ADDRESS'"
    [[ "$KAFKA_RATE" =~ ^[1-9][0-9]*$ ]] || die "--kafka-rate must be a positive integer, got '$KAFKA_RATE'"
    RUN_KAFKA=1
fi
((RUN_REDIS || RUN_POSTGRES || RUN_KAFKA)) ||
    die "--skip-redis and --skip-postgres without --kafka leave nothing to measure"

require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" > /dev/null || die "$tool not found in PATH; see the list of tools in the header of $0"
    done
}
require awk sha1sum sort
((RUN_REDIS)) && require redis-cli redis-benchmark
((RUN_POSTGRES)) && require psql pgbench
((RUN_KAFKA)) && require cargo sed

RUN_ID="$(date -u +%Y%m%d%H%M%S)_$$"
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/onsale-engine-ceilings.XXXXXX")"
PRIVATE_REDIS_PORT=""
REDIS_HOST=""
REDIS_PORT=""
# private (started by this script), standalone (a single node given by --redis) or cluster (a
# Redis Cluster primary given by --redis).
REDIS_MODE=""
# The hash tag that every key of the run carries in braces, first in the key, and on a cluster
# primary its slot. select_cluster_hash_tag picks them on a cluster.
REDIS_TAG="onsale_bench_${RUN_ID}"
REDIS_SLOT=""
SCRATCH_DATABASE="onsale_bench_${RUN_ID}"
SCRATCH_CREATED=0
REDIS_KEYS_WRITTEN=0

redis() {
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"
}

# One SCAN step that deletes the keys it found and returns the next cursor. The redis-cli of
# Redis 7.0 has no --count for --scan, and its default of 10 keys per step is too slow here.
SCAN_AND_DELETE_LUA="local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', 5000)
if #r[2] > 0 then redis.call('DEL', unpack(r[2])) end
return r[1]"

# Deletes the keys whose names start with $1. Every key of the private Redis is the script's,
# so there it runs FLUSHALL; on a Redis given by --redis it scans 5,000 keys per call.
delete_redis_keys() {
    if [[ -n "$PRIVATE_REDIS_PORT" ]]; then
        redis FLUSHALL SYNC > /dev/null
        return
    fi
    local cursor=0
    while :; do
        cursor="$(redis EVAL "$SCAN_AND_DELETE_LUA" 0 "$cursor" "$1*")"
        [[ "$cursor" =~ ^[0-9]+$ ]] || die "deleting the keys $1* failed: $cursor"
        [[ "$cursor" == 0 ]] && break
    done
}

cleanup() {
    local status=$?
    set +e
    if [[ -n "$PRIVATE_REDIS_PORT" ]]; then
        redis-cli -h 127.0.0.1 -p "$PRIVATE_REDIS_PORT" SHUTDOWN NOSAVE > /dev/null 2>&1
        if [[ -f "$WORK_DIR/redis.pid" ]] && kill -0 "$(cat "$WORK_DIR/redis.pid")" 2> /dev/null; then
            kill "$(cat "$WORK_DIR/redis.pid")"
        fi
    elif ((REDIS_KEYS_WRITTEN)); then
        # In a subshell, so that a failed deletion cannot end this trap before the other steps.
        (delete_redis_keys "{$REDIS_TAG}") ||
            echo "engine-ceilings: delete the keys that start with {$REDIS_TAG} by hand" >&2
    fi
    if ((SCRATCH_CREATED)); then
        psql "$POSTGRES_URL" -qAt -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $SCRATCH_DATABASE WITH (FORCE)" > /dev/null ||
            echo "engine-ceilings: dropping the scratch database $SCRATCH_DATABASE failed; drop it by hand" >&2
    fi
    rm -rf "$WORK_DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints the median of the numbers given as arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Prints $1 as a JSON string.
json_string() {
    local value="${1//\\/\\\\}"
    value="${value//\"/\\\"}"
    printf '"%s"' "$value"
}

# Prints a JSON array of the numbers given as arguments.
json_numbers() {
    local IFS=,
    printf '[%s]' "$*"
}

# Replaces a password in a URL with ***, for messages.
redact_url() {
    sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<< "$1"
}

port_is_free() {
    ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
}

start_private_redis() {
    local port
    for ((port = PRIVATE_REDIS_FIRST_PORT; port <= PRIVATE_REDIS_LAST_PORT; port++)); do
        if port_is_free "$port"; then
            break
        fi
    done
    ((port <= PRIVATE_REDIS_LAST_PORT)) || die "no free port on 127.0.0.1 from $PRIVATE_REDIS_FIRST_PORT to $PRIVATE_REDIS_LAST_PORT for a private redis-server"
    require redis-server
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$WORK_DIR" --pidfile "$WORK_DIR/redis.pid" --logfile "$WORK_DIR/redis.log" ||
        die "starting redis-server on 127.0.0.1:$port failed"
    PRIVATE_REDIS_PORT="$port"
    REDIS_HOST=127.0.0.1
    REDIS_PORT="$port"
    local attempt
    for attempt in $(seq 50); do
        if [[ "$(redis PING 2> /dev/null)" == PONG ]]; then
            log "started a private redis-server on 127.0.0.1:$port"
            return
        fi
        sleep 0.1
    done
    tail -n 20 "$WORK_DIR/redis.log" >&2 || true
    die "the private redis-server on 127.0.0.1:$port did not reply to PING within 5 s; its log ends above"
}

# Prints the HOLD script's Lua source into $1.
write_hold_script() {
    if [[ -n "$HOLD_SCRIPT_FILE" ]]; then
        [[ -s "$HOLD_SCRIPT_FILE" ]] || die "--hold-script $HOLD_SCRIPT_FILE is missing or empty"
        cp "$HOLD_SCRIPT_FILE" "$1"
        return
    fi
    require cargo
    log "printing the origin's HOLD script with cargo (a first build of onsale-origin takes minutes)"
    (cd "$REPO_ROOT" && cargo run -q --profile "$CARGO_PROFILE" -p onsale-origin --example print_hold_script) > "$1" ||
        die "printing the HOLD script failed; build the example by hand or pass --hold-script FILE"
    [[ -s "$1" ]] || die "the print_hold_script example printed nothing"
}

# Runs redis-benchmark with the given arguments and prints "rps p50_ms p99_ms" from its CSV.
run_redis_benchmark() {
    local output="$WORK_DIR/redis-benchmark.csv"
    if ! redis-benchmark -h "$REDIS_HOST" -p "$REDIS_PORT" --csv "$@" > "$output" 2> "$WORK_DIR/redis-benchmark.err"; then
        cat "$WORK_DIR/redis-benchmark.err" >&2
        die "redis-benchmark failed (arguments: $*)"
    fi
    # The CSV's last line is: "test","rps","avg","min","p50","p95","p99","max" (latencies in ms).
    awk -F, 'END { gsub(/"/, ""); print $(NF - 6), $(NF - 3), $(NF - 1) }' "$output"
}

# Runs the HOLD script with redis-benchmark on fresh keys named after $1: $2 requests, $3
# requests pipelined on each connection, script SHA $4. Prints "rps p50_ms p99_ms
# success_ratio", where the success ratio is the share of holds that took their seats.
run_hold_benchmark() {
    local name="$1" requests="$2" pipeline="$3" sha="$4"
    # The origin's layout (origin/src/store/redis/mod.rs) puts an event's seat and hold keys
    # under the hash tag {<namespace>:e<id>}. Here the run's hash tag takes its place, so these
    # keys share one slot as the event's do. KEYS: holds-by-expiry, hold record, nonce, seat versions,
    # stats, 4 seats. ARGV: hold id, fan, TTL ms, nonce, record grace ms, 4 seat indexes.
    # Hold ids have the UUID shape and nonces the 22 characters of the origin's.
    local prefix="{$REDIS_TAG}:$name" result successes
    result="$(run_redis_benchmark -c "$REDIS_CLIENTS" -n "$requests" -P "$pipeline" -r "$RANDOM_KEYSPACE" \
        EVALSHA "$sha" 9 \
        "$prefix:holds" "$prefix:hold:00000000-0000-4000-8000-__rand_int__" "$prefix:n:nonce-0000__rand_int__" \
        "$prefix:sv" "$prefix:stats" \
        "$prefix:s:__rand_int__" "$prefix:s:__rand_int__" "$prefix:s:__rand_int__" "$prefix:s:__rand_int__" \
        "00000000-0000-4000-8000-__rand_int__" 0f1e2d3c4b5a69788796a5b4c3d2e1f0 "$HOLD_TTL_MS" \
        "nonce-0000__rand_int__" "$HOLD_RECORD_GRACE_MS" "${HOLD_SEAT_INDEXES[@]}")"
    # The script counts each hold that took its seats; the others found a seat or the nonce taken.
    successes="$(redis HGET "$prefix:stats" holds_started)"
    delete_redis_keys "$prefix:"
    printf '%s %s\n' "$result" "$(awk -v ok="${successes:-0}" -v total="$requests" 'BEGIN { printf "%.4f", ok / total }')"
}

HOLD_RPS=() HOLD_P50=() HOLD_P99=() HOLD_SUCCESS=()
HOLD_PIPELINED_RPS=() HOLD_PIPELINED_P50=() HOLD_PIPELINED_P99=() HOLD_PIPELINED_SUCCESS=()
SET_RPS=() SET_P50=() SET_P99=()
ZADD_RPS=() ZADD_P50=() ZADD_P99=()
REDIS_VERSION=""

# Prints the address (HOST:PORT) of the cluster node with id $1, from CLUSTER NODES of --redis.
cluster_node_address() {
    redis CLUSTER NODES | awk -v id="$1" '$1 == id { sub(/@.*/, "", $2); print $2 }'
}

# Checks that --redis is a Redis Cluster primary that serves slots, and sets REDIS_TAG to the
# first onsale_bench_<run id>_<n>, n = 0, 1, 2 ..., whose slot (CLUSTER KEYSLOT) this primary
# serves, and REDIS_SLOT to that slot. Every key of the run carries REDIS_TAG in braces, first in
# the key, so redis-benchmark, which sends every command to this one node, never gets MOVED.
select_cluster_hash_tag() {
    local my_id line flags primary_id
    my_id="$(redis CLUSTER MYID)"
    # A CLUSTER NODES line: id, address, flags, primary id (or -), ping sent, pong received,
    # config epoch, link state, then the slots served, each "start-end" or a single slot.
    # "[slot->-id]" and "[slot-<-id]" mark a slot that is being migrated to or from this node.
    line="$(redis CLUSTER NODES | awk -v id="$my_id" '$1 == id')"
    [[ -n "$line" ]] || die "CLUSTER NODES of $REDIS_ADDRESS does not list the node's own id $my_id (CLUSTER MYID)"
    read -r _ _ flags primary_id _ <<< "$line"
    if [[ ",$flags," == *,slave,* ]]; then
        local primary
        primary="$(cluster_node_address "$primary_id")"
        die "$REDIS_ADDRESS is a replica of the Redis Cluster primary ${primary:-with id $primary_id}, and a replica rejects the benchmark's writes; give a primary as --redis, such as ${primary:-that one}"
    fi
    [[ ",$flags," == *,master,* ]] || die "$REDIS_ADDRESS is neither a primary nor a replica of its cluster (CLUSTER NODES flags: $flags); give a primary as --redis"

    # "start end" per served range, without the slots in migration, whose keys may get an ASK reply.
    local ranges
    ranges="$(awk '{
        for (i = 9; i <= NF; i++) {
            if ($i ~ /^\[/) { migrating[substr($i, 2) + 0] = 1; continue }
            n = split($i, bounds, "-")
            start[++count] = bounds[1]; end[count] = (n == 2 ? bounds[2] : bounds[1])
        }
    } END {
        for (r = 1; r <= count; r++) {
            first = start[r]
            for (slot = start[r]; slot <= end[r] + 1; slot++) {
                if (slot > end[r] || slot in migrating) {
                    if (slot > first) print first, slot - 1
                    first = slot + 1
                }
            }
        }
    }' <<< "$line")"
    [[ -n "$ranges" ]] || die "the Redis Cluster primary $REDIS_ADDRESS serves no slots, so it stores no event's keys; give a primary that serves slots"

    local n slot candidate first last
    for ((n = 0; n < 1000; n++)); do
        candidate="onsale_bench_${RUN_ID}_$n"
        slot="$(redis CLUSTER KEYSLOT "$candidate")"
        [[ "$slot" =~ ^[0-9]+$ ]] || die "CLUSTER KEYSLOT $candidate on $REDIS_ADDRESS failed: $slot"
        while read -r first last; do
            if ((slot >= first && slot <= last)); then
                REDIS_TAG="$candidate"
                REDIS_SLOT="$slot"
                log "Redis Cluster primary $REDIS_ADDRESS serves slot $slot, so every key carries the hash tag {$REDIS_TAG}"
                return
            fi
        done <<< "$ranges"
    done
    die "none of 1000 hash tags onsale_bench_${RUN_ID}_<n> has its slot on $REDIS_ADDRESS, which serves the slots: $(tr '\n' ',' <<< "$ranges")"
}

measure_redis() {
    if [[ -z "$REDIS_ADDRESS" ]]; then
        start_private_redis
        REDIS_MODE=private
    else
        [[ "$REDIS_ADDRESS" =~ ^(.+):([0-9]+)$ ]] || die "--redis must be HOST:PORT, got '$REDIS_ADDRESS'"
        REDIS_HOST="${BASH_REMATCH[1]}"
        REDIS_PORT="${BASH_REMATCH[2]}"
        [[ "$(redis PING 2>&1)" == PONG ]] || die "PING to the Redis at $REDIS_ADDRESS failed; is it running?"
        if [[ "$(redis INFO cluster)" == *cluster_enabled:1* ]]; then
            REDIS_MODE=cluster
            select_cluster_hash_tag
        else
            REDIS_MODE=standalone
        fi
    fi
    REDIS_VERSION="$(redis INFO server | awk -F: '/^redis_version:/ { sub(/\r$/, "", $2); print $2 }')"

    local script="$WORK_DIR/hold.lua" sha expected
    write_hold_script "$script"
    sha="$(redis -x SCRIPT LOAD < "$script")"
    expected="$(sha1sum "$script" | awk '{ print $1 }')"
    [[ "$sha" == "$expected" ]] || die "SCRIPT LOAD returned '$sha', expected the SHA-1 of the script, $expected"
    log "loaded the HOLD script as $sha"
    REDIS_KEYS_WRITTEN=1

    local run prefix result rps p50 p99 success
    for ((run = 1; run <= RUNS; run++)); do
        log "HOLD script EVALSHA, run $run of $RUNS: $HOLD_REQUESTS requests, $REDIS_CLIENTS clients"
        result="$(run_hold_benchmark "r${run}" "$HOLD_REQUESTS" 1 "$sha")"
        read -r rps p50 p99 success <<< "$result"
        HOLD_RPS+=("$rps") HOLD_P50+=("$p50") HOLD_P99+=("$p99") HOLD_SUCCESS+=("$success")

        log "HOLD script EVALSHA pipelined $HOLD_PIPELINE deep, run $run of $RUNS: $HOLD_PIPELINED_REQUESTS requests, $REDIS_CLIENTS clients"
        result="$(run_hold_benchmark "r${run}p" "$HOLD_PIPELINED_REQUESTS" "$HOLD_PIPELINE" "$sha")"
        read -r rps p50 p99 success <<< "$result"
        HOLD_PIPELINED_RPS+=("$rps") HOLD_PIPELINED_P50+=("$p50") HOLD_PIPELINED_P99+=("$p99")
        HOLD_PIPELINED_SUCCESS+=("$success")

        prefix="{$REDIS_TAG}:r${run}"
        log "SET NX, run $run of $RUNS: $SET_REQUESTS requests, $REDIS_CLIENTS clients"
        result="$(run_redis_benchmark -c "$REDIS_CLIENTS" -n "$SET_REQUESTS" -r "$RANDOM_KEYSPACE" \
            SET "$prefix:set:__rand_int__" "h:00000000-0000-4000-8000-000000000000" NX)"
        read -r rps p50 p99 <<< "$result"
        SET_RPS+=("$rps") SET_P50+=("$p50") SET_P99+=("$p99")
        delete_redis_keys "$prefix:set:"

        log "ZADD NX pipelined $ZADD_PIPELINE deep, run $run of $RUNS: $ZADD_REQUESTS requests, $REDIS_CLIENTS clients"
        result="$(run_redis_benchmark -c "$REDIS_CLIENTS" -n "$ZADD_REQUESTS" -r "$RANDOM_KEYSPACE" \
            -P "$ZADD_PIPELINE" ZADD "$prefix:zset" NX __rand_int__ "00000000-0000-4000-8000-__rand_int__")"
        read -r rps p50 p99 <<< "$result"
        ZADD_RPS+=("$rps") ZADD_P50+=("$p50") ZADD_P99+=("$p99")
        redis DEL "$prefix:zset" > /dev/null
    done
}

PG_ROWS=() PG_TPS=() PG_P50=() PG_P99=()
PG_VERSION="" PG_FSYNC="" PG_WAL_SYNC_METHOD=""

measure_postgres() {
    local base query scratch_url
    [[ "$POSTGRES_URL" =~ ^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$ ]] ||
        die "--postgres must be a postgres:// URL, got '$(redact_url "$POSTGRES_URL")'"
    base="${BASH_REMATCH[1]}"
    query="${BASH_REMATCH[4]}"
    scratch_url="$base/$SCRATCH_DATABASE$query"

    psql "$POSTGRES_URL" -qAt -v ON_ERROR_STOP=1 -c "SELECT 1" > /dev/null ||
        die "connecting to PostgreSQL at $(redact_url "$POSTGRES_URL") failed"
    PG_VERSION="$(psql "$POSTGRES_URL" -qAt -c "SHOW server_version" | awk '{ print $1 }')"
    PG_FSYNC="$(psql "$POSTGRES_URL" -qAt -c "SHOW fsync")"
    PG_WAL_SYNC_METHOD="$(psql "$POSTGRES_URL" -qAt -c "SHOW wal_sync_method")"
    [[ "$PG_FSYNC" == on ]] || log "WARNING: the server runs with fsync=$PG_FSYNC, so its commits are not durable and the figures overstate the ceiling"

    psql "$POSTGRES_URL" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $SCRATCH_DATABASE" > /dev/null ||
        die "creating the scratch database $SCRATCH_DATABASE failed; the user of --postgres needs CREATEDB"
    SCRATCH_CREATED=1
    log "created the scratch database $SCRATCH_DATABASE"

    # The columns, CHECK, UNIQUE constraint and index of order_seats in
    # origin/migrations/postgres/20261204000002_order_db.sql, without the foreign key to orders,
    # which this database does not have.
    psql "$scratch_url" -qAt -v ON_ERROR_STOP=1 > /dev/null << 'SQL'
CREATE TABLE order_seats (
    order_id    UUID NOT NULL,
    event_id    BIGINT NOT NULL,
    seat_index  INTEGER NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    CONSTRAINT order_seats_one_sale_per_seat UNIQUE (event_id, seat_index)
);
CREATE INDEX order_seats_order ON order_seats (order_id);
SQL

    # One transaction per order: the statement the origin runs for an order's seats
    # (origin/src/db/postgres/orders.rs), one order id for all its rows. Each pgbench client
    # is an event of its own and counts its orders in :n, so the seat keys never repeat.
    local seats="" prices="" offset
    for ((offset = 0; offset < SEATS_PER_ORDER; offset++)); do
        seats+="${seats:+, }:first_seat + $offset"
        prices+="${prices:+, }$SEAT_PRICE_CENTS"
    done
    cat > "$WORK_DIR/order_seats.sql" << SQL
\\set n :n + 1
\\set event :client_id + 1
\\set first_seat (:n - 1) * $SEATS_PER_ORDER
INSERT INTO order_seats (order_id, event_id, seat_index, price_cents)
    SELECT o.id, :event, seat, price
    FROM (SELECT gen_random_uuid() AS id) AS o,
         UNNEST(ARRAY[$seats]::INT[], ARRAY[$prices]::BIGINT[]) AS t (seat, price);
SQL

    local run output transactions rows latencies p50 p99
    for ((run = 1; run <= RUNS; run++)); do
        psql "$scratch_url" -qAt -v ON_ERROR_STOP=1 -c "TRUNCATE order_seats" > /dev/null
        log "order_seats INSERT, run $run of $RUNS: $PG_SECONDS s, $PG_CLIENTS clients, $SEATS_PER_ORDER rows per transaction"
        output="$WORK_DIR/pgbench_r$run.out"
        # synchronous_commit=on for these sessions whatever the server's default, so that each
        # commit waits for its WAL flush.
        if ! PGOPTIONS="-c synchronous_commit=on" pgbench -n -M prepared -c "$PG_CLIENTS" -j "$PG_THREADS" \
            -T "$PG_SECONDS" -D n=0 -f "$WORK_DIR/order_seats.sql" \
            --log --log-prefix="$WORK_DIR/pgbench_log_r$run" "$scratch_url" > "$output" 2>&1; then
            cat "$output" >&2
            die "pgbench failed; its output is above"
        fi
        # "number of transactions actually processed: 12345" (with -T, no "/total" after it).
        transactions="$(awk '/^number of transactions actually processed:/ { sub(/.*: /, ""); sub(/\/.*/, ""); print }' "$output")"
        rows="$(psql "$scratch_url" -qAt -c "SELECT count(*) FROM order_seats")"
        ((rows == transactions * SEATS_PER_ORDER)) ||
            die "pgbench reported $transactions transactions but order_seats has $rows rows, not $((transactions * SEATS_PER_ORDER))"
        PG_TPS+=("$(awk '/^tps = / { print $3 }' "$output")")
        PG_ROWS+=("$(awk -v tps="${PG_TPS[-1]}" -v seats="$SEATS_PER_ORDER" 'BEGIN { printf "%.1f", tps * seats }')")
        # The third field of each line of pgbench's transaction log is the latency in µs.
        latencies="$(cat "$WORK_DIR"/pgbench_log_r"$run".* | awk '{ print $3 }' | sort -n |
            awk '{ v[NR] = $1 } END { printf "%.3f %.3f", v[int(NR * 0.50) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }')"
        read -r p50 p99 <<< "$latencies"
        PG_P50+=("$p50") PG_P99+=("$p99")
    done
}

# Prints the value of field $2 of the one-line JSON object in file $1, without quotes. The
# kafka_round_trip example prints flat objects with no spaces, such as {"acks":"all","lost":0}.
json_field() {
    sed -n -E "s/.*\"$2\":(\"([^\"]*)\"|([^,}]*)).*/\2\3/p" "$1"
}

# Runs the kafka_round_trip example against --kafka with the arguments after $1, and writes its
# JSON into the file $1. Its messages go to stderr.
run_kafka_round_trip() {
    local output="$1"
    shift
    (cd "$REPO_ROOT" && cargo run -q --profile "$CARGO_PROFILE" -p onsale-origin --example kafka_round_trip -- \
        --brokers "$KAFKA_ADDRESS" "${KAFKA_TOPIC_OPTIONS[@]}" "$@") > "$output" ||
        die "the kafka_round_trip example failed (arguments: $*); its messages are above"
}

# Appends the figures in the example's JSON file $1 to the arrays named <$2>_PER_S, <$2>_P50,
# <$2>_P90, <$2>_P99 and <$2>_MAX.
read_kafka_figures() {
    local file="$1"
    local -n per_second="${2}_PER_S" p50="${2}_P50" p90="${2}_P90" p99="${2}_P99" max="${2}_MAX"
    per_second+=("$(json_field "$file" end_to_end_per_s)")
    p50+=("$(json_field "$file" latency_p50_ms)")
    p90+=("$(json_field "$file" latency_p90_ms)")
    p99+=("$(json_field "$file" latency_p99_ms)")
    max+=("$(json_field "$file" latency_max_ms)")
}

KAFKA_LATENCY_PER_S=() KAFKA_LATENCY_P50=() KAFKA_LATENCY_P90=() KAFKA_LATENCY_P99=() KAFKA_LATENCY_MAX=()
KAFKA_PUBLISH_PER_S=() KAFKA_PUBLISH_P50=() KAFKA_PUBLISH_P90=() KAFKA_PUBLISH_P99=() KAFKA_PUBLISH_MAX=()
KAFKA_MAX_RATE_PER_S=() KAFKA_MAX_RATE_P50=() KAFKA_MAX_RATE_P90=() KAFKA_MAX_RATE_P99=() KAFKA_MAX_RATE_MAX=()
# The first runs' JSON, for the settings that every run shares.
KAFKA_LATENCY_SETTINGS="$WORK_DIR/kafka_latency_r1.json"
KAFKA_PUBLISH_SETTINGS="$WORK_DIR/kafka_publish_r1.json"

measure_kafka() {
    log "building the kafka_round_trip example with cargo (a first build of onsale-origin takes minutes)"
    (cd "$REPO_ROOT" && cargo build -q --profile "$CARGO_PROFILE" -p onsale-origin --example kafka_round_trip) ||
        die "building the kafka_round_trip example failed"

    local run file
    for ((run = 1; run <= RUNS; run++)); do
        log "Kafka round trip, acks=all and linger.ms=0, run $run of $RUNS: $KAFKA_MESSAGES messages at $KAFKA_RATE/s"
        file="$WORK_DIR/kafka_latency_r$run.json"
        run_kafka_round_trip "$file" --producer latency --messages "$KAFKA_MESSAGES" --rate "$KAFKA_RATE"
        read_kafka_figures "$file" KAFKA_LATENCY

        log "Kafka round trip, the origin's seat-change producer settings, run $run of $RUNS: $KAFKA_MESSAGES messages at $KAFKA_RATE/s"
        file="$WORK_DIR/kafka_publish_r$run.json"
        run_kafka_round_trip "$file" --producer publish --messages "$KAFKA_MESSAGES" --rate "$KAFKA_RATE"
        read_kafka_figures "$file" KAFKA_PUBLISH

        log "Kafka at the maximum rate, acks=all and linger.ms=0, run $run of $RUNS: $KAFKA_MAX_RATE_MESSAGES messages"
        file="$WORK_DIR/kafka_max_rate_r$run.json"
        run_kafka_round_trip "$file" --producer latency --messages "$KAFKA_MAX_RATE_MESSAGES" --max-rate
        read_kafka_figures "$file" KAFKA_MAX_RATE
    done
}

STARTED_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo unknown)"
((RUN_REDIS)) && measure_redis
((RUN_POSTGRES)) && measure_postgres
if ((RUN_KAFKA)); then
    measure_kafka
else
    log "no --kafka HOST:PORT or ONSALE_BENCH_KAFKA given, so the Kafka measurements are skipped"
fi
FINISHED_AT="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LOAD_AT_END="$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo unknown)"

CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2> /dev/null || true)"
MEMORY_MB="$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo 2> /dev/null || echo 0)"
ONSALE_COMMIT="$(git -C "$REPO_ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)"
if [[ "$ONSALE_COMMIT" != unknown ]] && [[ -n "$(git -C "$REPO_ROOT" status --porcelain 2> /dev/null)" ]]; then
    ONSALE_COMMIT+="-dirty"
fi

# Prints one row of the table: engine $1, measurement $2, and the medians of the arrays named
# $3 (per second), $4 (p50 ms) and $5 (p99 ms), then every run's figure per second.
table_row() {
    local -n per_second="$3" p50="$4" p99="$5"
    printf '%-18s %-54s %11.0f %8s %8s  %s\n' "$1" "$2" "$(median "${per_second[@]}")" \
        "$(median "${p50[@]}")" "$(median "${p99[@]}")" "${per_second[*]}"
}

# Prints the JSON fields <$1>_per_s, <$1>_p50_ms, <$1>_p99_ms and <$1>_runs_per_s from the
# arrays named $2, $3 and $4, followed by a comma.
json_measurement() {
    local -n per_second="$2" p50="$3" p99="$4"
    printf '"%s_per_s": %s, "%s_p50_ms": %s, "%s_p99_ms": %s, "%s_runs_per_s": %s, ' \
        "$1" "$(median "${per_second[@]}")" "$1" "$(median "${p50[@]}")" "$1" "$(median "${p99[@]}")" \
        "$1" "$(json_numbers "${per_second[@]}")"
}

# Prints the JSON fields <$1>_per_s, <$1>_p50_ms, <$1>_p90_ms, <$1>_p99_ms, <$1>_max_ms,
# <$1>_runs_per_s and <$1>_runs_p99_ms from the arrays named <$2>_PER_S, <$2>_P50, <$2>_P90,
# <$2>_P99 and <$2>_MAX, followed by a comma.
json_kafka_measurement() {
    local -n per_second="${2}_PER_S" p50="${2}_P50" p90="${2}_P90" p99="${2}_P99" max="${2}_MAX"
    printf '"%s_per_s": %s, "%s_p50_ms": %s, "%s_p90_ms": %s, "%s_p99_ms": %s, "%s_max_ms": %s, ' \
        "$1" "$(median "${per_second[@]}")" "$1" "$(median "${p50[@]}")" "$1" "$(median "${p90[@]}")" \
        "$1" "$(median "${p99[@]}")" "$1" "$(median "${max[@]}")"
    printf '"%s_runs_per_s": %s, "%s_runs_p99_ms": %s, ' "$1" "$(json_numbers "${per_second[@]}")" \
        "$1" "$(json_numbers "${p99[@]}")"
}

# The table for people, on stderr.
{
    echo
    echo "Engine ceilings, the median of $RUNS run(s). $(nproc) CPUs (${CPU_MODEL:-unknown}), load average $LOAD_AT_START at start, $LOAD_AT_END at end."
    printf '%-18s %-54s %11s %8s %8s  %s\n' engine measurement "per second" "p50 ms" "p99 ms" "each run, per second"
    if ((RUN_REDIS)); then
        table_row "redis $REDIS_VERSION" "HOLD EVALSHA, 4 seats, $REDIS_CLIENTS clients (holds)" HOLD_RPS HOLD_P50 HOLD_P99
        table_row "redis $REDIS_VERSION" "HOLD EVALSHA, $REDIS_CLIENTS clients, pipeline $HOLD_PIPELINE (holds)" \
            HOLD_PIPELINED_RPS HOLD_PIPELINED_P50 HOLD_PIPELINED_P99
        table_row "redis $REDIS_VERSION" "SET NX, $REDIS_CLIENTS clients (keys)" SET_RPS SET_P50 SET_P99
        table_row "redis $REDIS_VERSION" "ZADD NX, $REDIS_CLIENTS clients, pipeline $ZADD_PIPELINE (members)" \
            ZADD_RPS ZADD_P50 ZADD_P99
    fi
    if ((RUN_POSTGRES)); then
        table_row "postgresql $PG_VERSION" "order_seats INSERT, $SEATS_PER_ORDER rows/commit, $PG_CLIENTS clients (rows)" \
            PG_ROWS PG_P50 PG_P99
    fi
    if ((RUN_KAFKA)); then
        table_row kafka "round trip, acks=all, linger.ms=0, $KAFKA_RATE/s (messages)" \
            KAFKA_LATENCY_PER_S KAFKA_LATENCY_P50 KAFKA_LATENCY_P99
        table_row kafka "round trip, seat-change producer, $KAFKA_RATE/s (messages)" \
            KAFKA_PUBLISH_PER_S KAFKA_PUBLISH_P50 KAFKA_PUBLISH_P99
        table_row kafka "maximum rate, acks=all, linger.ms=0 (messages)" \
            KAFKA_MAX_RATE_PER_S KAFKA_MAX_RATE_P50 KAFKA_MAX_RATE_P99
    fi
    if ((RUN_REDIS)); then
        case "$REDIS_MODE" in
            private) echo "Redis: a private redis-server on $REDIS_HOST:$REDIS_PORT, started and stopped by this script." ;;
            standalone) echo "Redis: the single node $REDIS_HOST:$REDIS_PORT." ;;
            cluster) echo "Redis: the Redis Cluster primary $REDIS_HOST:$REDIS_PORT; every key in slot $REDIS_SLOT (hash tag {$REDIS_TAG})." ;;
        esac
        echo "Share of the holds that took their seats, per run: ${HOLD_SUCCESS[*]}; pipelined: ${HOLD_PIPELINED_SUCCESS[*]}."
        echo "Redis latencies are redis-benchmark's, per request; a pipelined request waits for its whole pipeline."
    fi
    if ((RUN_POSTGRES)); then
        echo "PostgreSQL latencies are per transaction, with fsync=$PG_FSYNC, wal_sync_method=$PG_WAL_SYNC_METHOD, synchronous_commit=on."
    fi
    if ((RUN_KAFKA)); then
        echo "Kafka latencies are from send to receive per message, with fetch.wait.max.ms=$(json_field "$KAFKA_LATENCY_SETTINGS" fetch_wait_max_ms); per second is messages received from the first send to the last receive."
    fi
} >&2

# The JSON object, on stdout.
{
    printf '{"redis": '
    if ((RUN_REDIS)); then
        printf '{"version": %s, "mode": %s, "node": %s, "hash_tag": %s, "slot": %s, "clients": %d, ' \
            "$(json_string "$REDIS_VERSION")" "$(json_string "$REDIS_MODE")" "$(json_string "$REDIS_HOST:$REDIS_PORT")" \
            "$(json_string "{$REDIS_TAG}")" "${REDIS_SLOT:-null}" "$REDIS_CLIENTS"
        json_measurement hold_evalsha HOLD_RPS HOLD_P50 HOLD_P99
        printf '"hold_evalsha_requests": %d, "hold_evalsha_success_ratio": %s, ' \
            "$HOLD_REQUESTS" "$(median "${HOLD_SUCCESS[@]}")"
        json_measurement hold_evalsha_pipelined HOLD_PIPELINED_RPS HOLD_PIPELINED_P50 HOLD_PIPELINED_P99
        printf '"hold_evalsha_pipelined_requests": %d, "hold_evalsha_pipelined_success_ratio": %s, "hold_pipeline": %d, ' \
            "$HOLD_PIPELINED_REQUESTS" "$(median "${HOLD_PIPELINED_SUCCESS[@]}")" "$HOLD_PIPELINE"
        json_measurement set_nx SET_RPS SET_P50 SET_P99
        printf '"set_nx_requests": %d, ' "$SET_REQUESTS"
        json_measurement zadd_nx_pipelined ZADD_RPS ZADD_P50 ZADD_P99
        printf '"zadd_nx_pipelined_requests": %d, "zadd_pipeline": %d}' "$ZADD_REQUESTS" "$ZADD_PIPELINE"
    else
        printf 'null'
    fi
    printf ', "postgres": '
    if ((RUN_POSTGRES)); then
        printf '{"version": %s, "fsync": %s, "wal_sync_method": %s, "synchronous_commit": "on", "clients": %d, ' \
            "$(json_string "$PG_VERSION")" "$(json_string "$PG_FSYNC")" "$(json_string "$PG_WAL_SYNC_METHOD")" "$PG_CLIENTS"
        printf '"seats_per_transaction": %d, "seconds_per_run": %d, "transactions_per_s": %s, ' \
            "$SEATS_PER_ORDER" "$PG_SECONDS" "$(median "${PG_TPS[@]}")"
        printf '"seat_rows_per_s": %s, "seat_rows_runs_per_s": %s, "transaction_p50_ms": %s, "transaction_p99_ms": %s}' \
            "$(median "${PG_ROWS[@]}")" "$(json_numbers "${PG_ROWS[@]}")" "$(median "${PG_P50[@]}")" "$(median "${PG_P99[@]}")"
    else
        printf 'null'
    fi
    printf ', "kafka": '
    if ((RUN_KAFKA)); then
        printf '{"brokers": %s, "messages": %d, "rate_per_s": %d, "message_bytes": %s, "partitions": %s, ' \
            "$(json_string "$KAFKA_ADDRESS")" "$KAFKA_MESSAGES" "$KAFKA_RATE" \
            "$(json_field "$KAFKA_LATENCY_SETTINGS" message_bytes)" "$(json_field "$KAFKA_LATENCY_SETTINGS" partitions)"
        printf '"fetch_wait_max_ms": %s, "fetch_min_bytes": %s, "isolation_level": %s, ' \
            "$(json_field "$KAFKA_LATENCY_SETTINGS" fetch_wait_max_ms)" "$(json_field "$KAFKA_LATENCY_SETTINGS" fetch_min_bytes)" \
            "$(json_string "$(json_field "$KAFKA_LATENCY_SETTINGS" isolation_level)")"
        printf '"round_trip_acks": %s, "round_trip_linger_ms": %s, ' \
            "$(json_string "$(json_field "$KAFKA_LATENCY_SETTINGS" acks)")" "$(json_field "$KAFKA_LATENCY_SETTINGS" linger_ms)"
        json_kafka_measurement round_trip KAFKA_LATENCY
        printf '"publish_acks": %s, "publish_linger_ms": %s, "publish_compression": %s, ' \
            "$(json_string "$(json_field "$KAFKA_PUBLISH_SETTINGS" acks)")" "$(json_field "$KAFKA_PUBLISH_SETTINGS" linger_ms)" \
            "$(json_string "$(json_field "$KAFKA_PUBLISH_SETTINGS" compression)")"
        json_kafka_measurement publish_round_trip KAFKA_PUBLISH
        json_kafka_measurement max_rate KAFKA_MAX_RATE
        printf '"max_rate_messages": %d}' "$KAFKA_MAX_RATE_MESSAGES"
    else
        printf 'null'
    fi
    printf ', "machine": {"cpus": %d, "cpu_model": %s, "memory_mb": %d, "kernel": %s, ' \
        "$(nproc)" "$(json_string "$CPU_MODEL")" "$MEMORY_MB" "$(json_string "$(uname -sr)")"
    printf '"load_average_start": %s, "load_average_end": %s, ' "$(json_string "$LOAD_AT_START")" "$(json_string "$LOAD_AT_END")"
    printf '"started_at": %s, "finished_at": %s, "runs": %d, "onsale_commit": %s}}\n' \
        "$(json_string "$STARTED_AT")" "$(json_string "$FINISHED_AT")" "$RUNS" "$(json_string "$ONSALE_COMMIT")"
}
