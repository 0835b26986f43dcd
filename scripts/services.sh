#!/usr/bin/env bash
# Start, stop and check the local services that onsale's integration tests and demo need:
#   - a Redis Cluster of 6 redis-server nodes (3 primaries, 3 replicas),
#   - a Kafka-compatible broker (tansu 0.6) whose data lives in PostgreSQL,
#   - the machine's own PostgreSQL (127.0.0.1:5432, database "test") and Redis (127.0.0.1:6379).
#     This script checks that they respond, starts PostgreSQL with pg_ctlcluster if it is down,
#     creates missing databases, and never stops either of them.
# Everything listens on 127.0.0.1 only.
#
# Usage: scripts/services.sh start|stop|status|env|kafka-start|kafka-stop
#   eval "$(scripts/services.sh env)"   exports the ONSALE_TEST_* variables for the test suite.
#
# Environment:
#   ONSALE_SERVICES_DIR              state directory (default: $XDG_STATE_HOME/onsale/services,
#                                    or ~/.local/state/onsale/services)
#   ONSALE_REDIS_CLUSTER_BASE_PORT   port of the first cluster node; the 6 nodes use this port and
#                                    the next 5, and Redis also uses each port + 10000 for the
#                                    cluster bus (default: 7000)
#   ONSALE_KAFKA_PORT                broker port (default: 9092)
#   ONSALE_TANSU_DATABASE            PostgreSQL database that stores the broker's data; two
#                                    brokers running at once need two databases (default: tansu)
#   ONSALE_TANSU_RUST_LOG            RUST_LOG filter for the broker's log file (default: warn)
#
# Why tansu uses the postgres storage engine: tansu 0.6 keeps topics, records and committed
# consumer-group offsets in its storage engine and nothing on local disk. `memory://` loses all of
# them when the broker stops, and `s3://` needs an S3 server. The `sqlite://` engine is not
# compiled into a `--features postgres,dynostore` build. So the broker stores its data in the local
# PostgreSQL, and `kafka-stop` followed by `kafka-start` keeps topics, records and offsets.
# tansu 0.6 does not create its PostgreSQL tables itself, so this script creates them (see
# create_tansu_schema).
#
# NOTE: limits of tansu 0.6.0 with this PostgreSQL 15 that Kafka clients run into, found with
# rdkafka 0.39 (librdkafka 2.12.1):
#   - ListOffsets for the latest offset under isolation.level=read_committed (librdkafka's default)
#     fails, because its SQL has a subquery without an alias, which PostgreSQL accepts only from
#     version 16 on. The broker logs "subquery in FROM must have an alias" and closes the
#     connection, so fetch_watermarks and auto.offset.reset=latest fail with AllBrokersDown.
#     Clients must set isolation.level=read_uncommitted.
#   - Transactions do not work: the broker does not serve EndTxn, so commit_transaction fails.
#   - DeleteTopics deletes every topic of the cluster, unless the trigger that
#     create_tansu_schema adds stops it.
#   - Topics are never created automatically: create them with the admin API.
#   - A fetch waits the full fetch.wait.max.ms even when records arrive, so that setting is the
#     consumer's delivery latency.

set -euo pipefail

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)"

# The services listen on fixed ports, so they belong to the machine, not to one checkout: every
# clone of the repository finds the same state directory and the processes it started.
STATE_DIR="${ONSALE_SERVICES_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/onsale/services}"
REDIS_CLUSTER_BASE_PORT="${ONSALE_REDIS_CLUSTER_BASE_PORT:-7000}"
KAFKA_PORT="${ONSALE_KAFKA_PORT:-9092}"
TANSU_DATABASE="${ONSALE_TANSU_DATABASE:-tansu}"
TANSU_RUST_LOG="${ONSALE_TANSU_RUST_LOG:-warn}"

HOST=127.0.0.1
REDIS_CLUSTER_NODE_COUNT=6
# A primary counts as failed after this many milliseconds without a reply, and its replica
# then takes over. With Redis's default of 15000 a failover test would wait 15 s or more.
REDIS_CLUSTER_NODE_TIMEOUT_MS=2000
REDIS_CLUSTER_DIR="$STATE_DIR/redis-cluster"
REDIS_CLUSTER_WAIT_SECONDS=60
# A failover with the node timeout above takes about 5 s, so this leaves room for several.
REDIS_CLUSTER_REPAIR_SECONDS=30

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
TEST_DATABASE=test
STANDALONE_REDIS_PORT=6379

TANSU_VERSION=0.6.0
TANSU_DIR="$STATE_DIR/tansu"
TANSU_PID_FILE="$TANSU_DIR/tansu.pid"
TANSU_LOG_FILE="$TANSU_DIR/tansu.log"
TANSU_WAIT_SECONDS=30
TANSU_STOP_WAIT_SECONDS=10

log() {
    printf '[services] %s\n' "$*" >&2
}

die() {
    printf '[services] error: %s\n' "$*" >&2
    exit 1
}

redis_cluster_ports() {
    seq "$REDIS_CLUSTER_BASE_PORT" $((REDIS_CLUSTER_BASE_PORT + REDIS_CLUSTER_NODE_COUNT - 1))
}

# Succeeds when process $1 exists, is not a zombie, and its command name starts with $2. A
# zombie counts as stopped: the process that reaps orphans on this kind of machine can take
# seconds to do so.
process_is_running() {
    local pid="$1" name="$2" stat
    [[ -n "$pid" ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name"* ]] || return 1
    # The state letter follows the command name, which is in parentheses and may contain spaces.
    [[ "${stat##*) }" != Z* ]]
}

# Succeeds when something accepts TCP connections on 127.0.0.1:$1.
port_is_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Machine services: PostgreSQL and the standalone Redis. This script checks them and never stops
# them. It starts only a stopped PostgreSQL cluster, with pg_ctlcluster.
# ---------------------------------------------------------------------------------------------

postgres_is_ready() {
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER"
}

ensure_postgres() {
    if postgres_is_ready; then
        return
    fi

    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    if [[ -z "$version" ]]; then
        die "PostgreSQL is not responding on $PG_HOST:$PG_PORT and /etc/postgresql lists no cluster to start"
    fi

    log "PostgreSQL is not responding on $PG_HOST:$PG_PORT; starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
        die "pg_ctlcluster $version main start failed; see /var/log/postgresql/"

    local attempt
    for attempt in $(seq 1 30); do
        if postgres_is_ready; then
            return
        fi
        sleep 1
    done
    die "PostgreSQL still not responding on $PG_HOST:$PG_PORT after 30 s; see /var/log/postgresql/"
}

check_standalone_redis() {
    local reply
    reply="$(timeout 5 redis-cli -h "$HOST" -p "$STANDALONE_REDIS_PORT" ping 2>&1 || true)"
    if [[ "$reply" != PONG ]]; then
        die "the standalone Redis on $HOST:$STANDALONE_REDIS_PORT did not reply PONG to PING (output: $reply); start it, because this script does not"
    fi
}

psql_run() {
    local database="$1"
    shift
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$database" "$@"
}

# Creates the PostgreSQL database named $1 unless it exists.
ensure_database() {
    local database="$1" found
    found="$(psql_run postgres -Atc "select 1 from pg_database where datname = '$database'")"
    if [[ "$found" != 1 ]]; then
        log "creating PostgreSQL database '$database'"
        psql_run postgres -c "create database \"$database\""
    fi
}

# ---------------------------------------------------------------------------------------------
# Redis Cluster
# ---------------------------------------------------------------------------------------------

# Runs redis-cli against the node on port $1. The timeout keeps a hung node (for example one a
# test put into DEBUG SLEEP) from blocking this script.
redis_node_cli() {
    local port="$1"
    shift
    timeout 5 redis-cli -h "$HOST" -p "$port" "$@"
}

redis_node_dir() {
    echo "$REDIS_CLUSTER_DIR/$1"
}

# Prints the pid of the cluster node on port $1 if this script started it and it still runs.
redis_node_pid() {
    local pid_file
    pid_file="$(redis_node_dir "$1")/redis.pid"
    [[ -f "$pid_file" ]] || return 1

    local pid
    pid="$(cat "$pid_file")"
    process_is_running "$pid" redis-server || return 1
    echo "$pid"
}

# Succeeds when every node responds, reports cluster_state:ok with all 16384 slots served and all
# 6 nodes known, lists 3 primaries and 3 replicas with none flagged as failing, and every replica
# is in sync with its primary.
redis_cluster_is_healthy() {
    local port info nodes replication
    for port in $(redis_cluster_ports); do
        info="$(redis_node_cli "$port" cluster info 2>/dev/null | tr -d '\r')" || return 1
        grep -qx 'cluster_state:ok' <<<"$info" || return 1
        grep -qx 'cluster_slots_ok:16384' <<<"$info" || return 1
        grep -qx "cluster_known_nodes:$REDIS_CLUSTER_NODE_COUNT" <<<"$info" || return 1

        nodes="$(redis_node_cli "$port" cluster nodes 2>/dev/null)" || return 1
        # Node ids are hexadecimal, so these words can only match the flags column.
        if grep -Eq 'fail|handshake|noaddr' <<<"$nodes"; then
            return 1
        fi
        [[ "$(grep -c 'master' <<<"$nodes")" == 3 ]] || return 1
        [[ "$(grep -c 'slave' <<<"$nodes")" == 3 ]] || return 1

        # A replica that has not finished its first sync does not fail over ("Disconnected from
        # master for longer than allowed"), so a failover test right after start would hang.
        replication="$(redis_node_cli "$port" info replication 2>/dev/null | tr -d '\r')" || return 1
        if grep -qx 'role:slave' <<<"$replication" && ! grep -qx 'master_link_status:up' <<<"$replication"; then
            return 1
        fi
    done
    return 0
}

start_redis_node() {
    local port="$1"
    local dir
    dir="$(redis_node_dir "$port")"
    mkdir -p "$dir"

    # --repl-diskless-sync-delay 0: a primary otherwise waits 5 s for more replicas before it
    # starts the first full sync, which delays the healthy state by those 5 s.
    # --enable-debug-command local lets tests on this machine simulate a hung primary with
    # DEBUG SLEEP; the node accepts connections from 127.0.0.1 only.
    redis-server \
        --bind "$HOST" \
        --port "$port" \
        --daemonize yes \
        --dir "$dir" \
        --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log" \
        --cluster-enabled yes \
        --cluster-config-file nodes.conf \
        --cluster-node-timeout "$REDIS_CLUSTER_NODE_TIMEOUT_MS" \
        --save "" \
        --appendonly no \
        --repl-diskless-sync-delay 0 \
        --enable-debug-command local \
        9>&- ||
        die "redis-server on port $port failed to start; see $dir/redis.log"
}

stop_redis_cluster() {
    local port pid
    for port in $(redis_cluster_ports); do
        if pid="$(redis_node_pid "$port")"; then
            log "stopping Redis Cluster node $HOST:$port (pid $pid)"
            redis_node_cli "$port" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
        fi
    done

    local attempt
    for port in $(redis_cluster_ports); do
        for attempt in $(seq 1 50); do
            redis_node_pid "$port" >/dev/null || break
            sleep 0.1
        done
        if pid="$(redis_node_pid "$port")"; then
            log "Redis Cluster node $HOST:$port (pid $pid) did not stop on SHUTDOWN; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

wait_for_redis_cluster() {
    local deadline=$((SECONDS + REDIS_CLUSTER_WAIT_SECONDS))
    until redis_cluster_is_healthy; do
        if ((SECONDS >= deadline)); then
            redis-cli --cluster check "$HOST:$REDIS_CLUSTER_BASE_PORT" >&2 || true
            die "Redis Cluster not healthy after ${REDIS_CLUSTER_WAIT_SECONDS} s; node logs are in $REDIS_CLUSTER_DIR/*/redis.log"
        fi
        sleep 0.2
    done
}

# Succeeds when the running node on port $1 lists the node on port $2 as a primary that owns
# slots, or when node $1 does not reply, so that a caller waits rather than acts on no data.
# Slot ranges follow the 8 fixed fields of a CLUSTER NODES line.
redis_node_owns_slots() {
    local nodes
    nodes="$(redis_node_cli "$1" cluster nodes 2>/dev/null)" || return 0
    awk -v address="$HOST:$2@" 'index($2, address) == 1 && $3 ~ /master/ && NF > 8 { found = 1 } END { exit !found }' <<<"$nodes"
}

# Restarts the stopped nodes of a cluster whose other nodes still run, and waits for it to become
# healthy again. A restarted node keeps its nodes.conf, so it rejoins the cluster and the data on
# the running primaries stays. This also covers a cluster in the middle of a failover, for example
# one that a test started. Fails if no node runs, or if the cluster is still not healthy after
# REDIS_CLUSTER_REPAIR_SECONDS.
repair_redis_cluster() {
    local port running=() stopped=()
    for port in $(redis_cluster_ports); do
        if redis_node_pid "$port" >/dev/null; then
            running+=("$port")
        elif [[ -f "$(redis_node_dir "$port")/nodes.conf" ]] && ! port_is_open "$port"; then
            stopped+=("$port")
        else
            return 1
        fi
    done
    ((${#running[@]} > 0)) || return 1

    log "waiting up to ${REDIS_CLUSTER_REPAIR_SECONDS} s for the Redis Cluster to become healthy"
    local deadline=$((SECONDS + REDIS_CLUSTER_REPAIR_SECONDS))

    # A stopped primary comes back empty, because the nodes keep no data on disk. If it restarted
    # while it still owned its slots, its replica would copy the empty data set, so it waits until
    # its replica has taken the slots over.
    for port in "${stopped[@]}"; do
        while redis_node_owns_slots "${running[0]}" "$port"; do
            ((SECONDS < deadline)) || return 1
            sleep 0.2
        done
        log "restarting stopped Redis Cluster node $HOST:$port"
        start_redis_node "$port"
    done

    until redis_cluster_is_healthy; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
    log "Redis Cluster healthy again"
}

start_redis_cluster() {
    if redis_cluster_is_healthy; then
        log "Redis Cluster already healthy on $HOST:$REDIS_CLUSTER_BASE_PORT-$((REDIS_CLUSTER_BASE_PORT + REDIS_CLUSTER_NODE_COUNT - 1))"
        return
    fi

    if repair_redis_cluster; then
        return
    fi

    # A cluster left over from an earlier run, or one that repair could not bring back, is rebuilt
    # from scratch: the nodes keep no data, and a stale nodes.conf would make `--cluster create`
    # reject them.
    log "rebuilding the Redis Cluster; its data is lost"
    stop_redis_cluster

    local port
    for port in $(redis_cluster_ports); do
        if port_is_open "$port" || port_is_open $((port + 10000)); then
            die "port $port or its cluster bus port $((port + 10000)) on $HOST is in use by a process this script did not start; stop it or set ONSALE_REDIS_CLUSTER_BASE_PORT"
        fi
    done

    rm -rf "$REDIS_CLUSTER_DIR"
    mkdir -p "$REDIS_CLUSTER_DIR"

    log "starting $REDIS_CLUSTER_NODE_COUNT Redis Cluster nodes on $HOST:$REDIS_CLUSTER_BASE_PORT-$((REDIS_CLUSTER_BASE_PORT + REDIS_CLUSTER_NODE_COUNT - 1))"
    for port in $(redis_cluster_ports); do
        start_redis_node "$port"
    done

    local attempt
    for port in $(redis_cluster_ports); do
        for attempt in $(seq 1 50); do
            if [[ "$(redis_node_cli "$port" ping 2>/dev/null)" == PONG ]]; then
                break
            fi
            sleep 0.1
        done
        [[ "$(redis_node_cli "$port" ping 2>/dev/null)" == PONG ]] ||
            die "Redis Cluster node $HOST:$port did not reply to PING within 5 s; see $(redis_node_dir "$port")/redis.log"
    done

    local addresses=()
    for port in $(redis_cluster_ports); do
        addresses+=("$HOST:$port")
    done
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes \
        >"$REDIS_CLUSTER_DIR/cluster-create.log" 2>&1 ||
        die "redis-cli --cluster create failed; see $REDIS_CLUSTER_DIR/cluster-create.log"

    wait_for_redis_cluster
    log "Redis Cluster healthy: 3 primaries, 3 replicas, 16384 slots"
}

redis_cluster_urls() {
    local port urls=()
    for port in $(redis_cluster_ports); do
        urls+=("redis://$HOST:$port")
    done
    local IFS=,
    echo "${urls[*]}"
}

# ---------------------------------------------------------------------------------------------
# Kafka-compatible broker: tansu with the postgres storage engine
# ---------------------------------------------------------------------------------------------

# sslmode=disable: tansu's PostgreSQL client tries TLS first and then rejects Debian's self-signed
# server certificate (issued for "localhost", not trusted by the system roots), so the broker would
# exit at startup. The connection never leaves 127.0.0.1.
tansu_storage_url() {
    echo "postgres://$PG_USER@$PG_HOST:$PG_PORT/$TANSU_DATABASE?sslmode=disable"
}

# Prints the path of a tansu binary, installing tansu from crates.io when none is found.
find_or_install_tansu() {
    local tansu_bin
    tansu_bin="$(command -v tansu || true)"
    if [[ -z "$tansu_bin" && -x "$HOME/.cargo/bin/tansu" ]]; then
        tansu_bin="$HOME/.cargo/bin/tansu"
    fi

    if [[ -z "$tansu_bin" ]]; then
        log "tansu not found; installing tansu $TANSU_VERSION with cargo install, a long build (an estimated 18 CPU-minutes)"
        cargo install tansu --version "$TANSU_VERSION" --features postgres,dynostore --locked >&2 ||
            die "cargo install tansu $TANSU_VERSION failed"
        tansu_bin="$HOME/.cargo/bin/tansu"
    fi

    local version
    version="$("$tansu_bin" --version 2>/dev/null | awk '{print $2}')"
    if [[ "$version" != 0.6.* ]]; then
        log "warning: $tansu_bin is version ${version:-unknown}, but the tables this script creates fit tansu 0.6"
    fi
    if ! "$tansu_bin" --help 2>/dev/null | grep -q '^Storage engines:.*postgres'; then
        die "$tansu_bin was built without the postgres storage engine; reinstall with: cargo install tansu --version $TANSU_VERSION --features postgres,dynostore --locked --force"
    fi
    echo "$tansu_bin"
}

# Creates the tables that tansu 0.6's postgres storage engine reads and writes. tansu-storage
# 0.6.0 ships its queries (src/sql/*.sql, src/pg/*.sql) but no tables, and upstream creates them in
# its Docker setup from etc/initdb.d/010-schema.sql (tag v0.6.0). Column types match the Rust types
# the engine binds and reads, because tokio-postgres rejects, for example, an i64 bound to an int.
# The engine compares record.transaction_id with pg_snapshot_xmin() to hide records of PostgreSQL
# transactions that are still open. Every statement is "if not exists", so each start runs this
# and existing data stays.
# NOTE: checked against tansu 0.6.0 only. Another tansu version may need other tables or columns.
create_tansu_schema() {
    psql_run "$TANSU_DATABASE" <<'SQL'
set client_min_messages = warning;
begin;

create table if not exists cluster (
    id int generated always as identity primary key,
    name text not null unique,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp
);

create table if not exists topic (
    id int generated always as identity primary key,
    cluster int not null references cluster (id) on delete cascade,
    name text not null,
    uuid uuid default gen_random_uuid(),
    partitions int not null,
    replication_factor int not null,
    is_internal bool not null default false,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (cluster, name)
);

create table if not exists topition (
    id int generated always as identity primary key,
    topic int references topic (id) on delete cascade,
    partition int,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (topic, partition)
);

create table if not exists watermark (
    id int generated always as identity primary key,
    topition int unique references topition (id) on delete cascade,
    low bigint,
    high bigint,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp
);

create table if not exists topic_configuration (
    id int generated always as identity primary key,
    topic int references topic (id) on delete cascade,
    name text not null,
    value text,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (topic, name)
);

create table if not exists record (
    topition int references topition (id) on delete cascade,
    offset_id bigint not null,
    transaction_id xid8 not null default pg_current_xact_id(),
    attributes smallint,
    producer_id bigint,
    producer_epoch smallint,
    timestamp timestamp,
    k bytea,
    v bytea,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    primary key (topition, offset_id)
);

create table if not exists header (
    topition int,
    offset_id bigint,
    k bytea,
    v bytea,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    primary key (topition, offset_id, k),
    foreign key (topition, offset_id) references record (topition, offset_id) on delete cascade
);

create table if not exists consumer_group (
    id int generated always as identity primary key,
    cluster int not null references cluster (id) on delete cascade,
    name text not null,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (cluster, name)
);

create table if not exists consumer_group_detail (
    id int generated always as identity primary key,
    consumer_group int unique references consumer_group (id) on delete cascade,
    e_tag uuid not null,
    detail json not null,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp
);

create table if not exists consumer_offset (
    id int generated always as identity primary key,
    consumer_group int references consumer_group (id) on delete cascade,
    topition int references topition (id) on delete cascade,
    committed_offset bigint,
    leader_epoch int,
    timestamp timestamp,
    metadata text,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (consumer_group, topition)
);

create table if not exists producer (
    id bigint generated by default as identity primary key,
    cluster int not null references cluster (id) on delete cascade,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp
);

create table if not exists producer_epoch (
    id int generated by default as identity primary key,
    producer bigint references producer (id) on delete cascade,
    epoch smallint not null default 0,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (producer, epoch)
);

create table if not exists producer_detail (
    id bigint generated by default as identity primary key,
    producer_epoch int references producer_epoch (id) on delete cascade,
    topition int references topition (id) on delete cascade,
    sequence int not null default 0,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (producer_epoch, topition)
);

create table if not exists txn (
    id bigint generated always as identity primary key,
    cluster int references cluster (id) on delete cascade,
    name text,
    producer bigint references producer (id) on delete cascade,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (cluster, name)
);

create table if not exists txn_detail (
    id bigint generated always as identity primary key,
    transaction bigint references txn (id) on delete cascade,
    producer_epoch int references producer_epoch (id) on delete cascade,
    transaction_timeout_ms int not null,
    started_at timestamp,
    -- BEGIN, PREPARE_COMMIT, PREPARE_ABORT, COMMITTED or ABORTED
    status text,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (transaction, producer_epoch)
);

create table if not exists txn_topition (
    id int generated always as identity primary key,
    txn_detail int references txn_detail (id) on delete cascade,
    topition int references topition (id) on delete cascade,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (txn_detail, topition)
);

create table if not exists txn_produce_offset (
    id int generated always as identity primary key,
    txn_topition int unique references txn_topition (id) on delete cascade,
    offset_start bigint,
    offset_end bigint,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp
);

create table if not exists txn_offset_commit (
    id int generated always as identity primary key,
    txn_detail int references txn_detail (id) on delete cascade,
    consumer_group int references consumer_group (id) on delete cascade,
    generation_id int,
    member_id text,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (txn_detail, consumer_group)
);

create table if not exists txn_offset_commit_tp (
    id int generated always as identity primary key,
    offset_commit int references txn_offset_commit (id) on delete cascade,
    topition int references topition (id) on delete cascade,
    committed_offset bigint,
    leader_epoch int,
    metadata text,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (offset_commit, topition)
);

create table if not exists scram_credential (
    id bigint generated by default as identity primary key,
    cluster int not null references cluster (id) on delete cascade,
    username text,
    mechanism int,
    salt bytea not null,
    iterations int not null,
    stored_key bytea not null,
    server_key bytea not null,
    last_updated timestamp not null default current_timestamp,
    created_at timestamp not null default current_timestamp,
    unique (cluster, username, mechanism)
);

-- tansu 0.6.0 deletes a topic with "delete from topic where topic.cluster in (...)", which
-- matches every topic of the cluster, and the cascades above would then drop all their records
-- and committed offsets. Before that statement the broker has already deleted the partitions
-- (topition rows) of the topic being deleted, so this trigger skips every topic that still has
-- partitions. A Kafka topic has at least one partition.
create or replace function onsale_keep_topics_with_partitions() returns trigger
language plpgsql as $$
begin
    if exists (select 1 from topition where topition.topic = old.id) then
        return null;
    end if;
    return old;
end;
$$;

create or replace trigger onsale_keep_topics_with_partitions
before delete on topic
for each row execute function onsale_keep_topics_with_partitions();

commit;
SQL
}

# Prints the broker's pid if this script started it and it still runs.
tansu_pid() {
    [[ -f "$TANSU_PID_FILE" ]] || return 1

    local pid
    pid="$(cat "$TANSU_PID_FILE")"
    process_is_running "$pid" tansu || return 1
    echo "$pid"
}

# Succeeds when the broker serves a Metadata request, which also reads its PostgreSQL storage.
# The port check comes first because `tansu topic list` retries a refused connection for about
# 25 s before it gives up.
tansu_is_serving() {
    local tansu_bin="$1"
    port_is_open "$KAFKA_PORT" || return 1
    timeout 5 "$tansu_bin" topic list --broker "tcp://$HOST:$KAFKA_PORT" >/dev/null 2>&1
}

start_kafka() {
    local tansu_bin
    tansu_bin="$(find_or_install_tansu)"

    local pid
    if pid="$(tansu_pid)"; then
        if tansu_is_serving "$tansu_bin"; then
            log "Kafka broker (tansu) already running on $HOST:$KAFKA_PORT (pid $pid)"
            return
        fi
        die "Kafka broker (tansu, pid $pid) is running but not responding on $HOST:$KAFKA_PORT; see $TANSU_LOG_FILE, or run: $SCRIPT_PATH kafka-stop"
    fi

    if port_is_open "$KAFKA_PORT"; then
        die "port $KAFKA_PORT on $HOST is in use by a process this script did not start; stop it or set ONSALE_KAFKA_PORT"
    fi

    ensure_postgres
    ensure_database "$TANSU_DATABASE"
    create_tansu_schema

    mkdir -p "$TANSU_DIR"
    rm -f "$TANSU_PID_FILE"
    printf '\n[services] %s starting tansu, storage %s\n' "$(date -Is)" "$(tansu_storage_url)" >>"$TANSU_LOG_FILE"

    # setsid detaches the broker from the caller's session, so it keeps running after the shell
    # or test harness that called kafka-start exits. In a non-interactive shell the background job
    # is not a process group leader, so setsid execs in place and $! is the broker's pid.
    # tansu also reads its options from environment variables, so the ones this script does not
    # pass are unset: an OTEL_EXPORTER_OTLP_ENDPOINT left in the caller's environment would make
    # the broker send telemetry to that host.
    env -u OTEL_EXPORTER_OTLP_ENDPOINT -u SCHEMA_REGISTRY -u DATA_LAKE -u ICEBERG_CATALOG \
        RUST_LOG="$TANSU_RUST_LOG" CLUSTER_ID=tansu_cluster \
        setsid "$tansu_bin" broker \
        --listener-url "tcp://$HOST:$KAFKA_PORT" \
        --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
        --storage-engine "$(tansu_storage_url)" \
        </dev/null >>"$TANSU_LOG_FILE" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$TANSU_PID_FILE"

    # Until setsid has exec'd the broker, the process's command name is bash, env or setsid, so
    # the loop below checks only that the process is alive.
    local deadline=$((SECONDS + TANSU_WAIT_SECONDS))
    until tansu_is_serving "$tansu_bin"; do
        if ! process_is_running "$pid" ""; then
            rm -f "$TANSU_PID_FILE"
            tail -n 20 "$TANSU_LOG_FILE" >&2 || true
            die "Kafka broker (tansu) exited during startup; see $TANSU_LOG_FILE"
        fi
        if ((SECONDS >= deadline)); then
            die "Kafka broker (tansu, pid $pid) still not responding on $HOST:$KAFKA_PORT after ${TANSU_WAIT_SECONDS} s; see $TANSU_LOG_FILE"
        fi
        sleep 0.2
    done
    log "Kafka broker (tansu) running on $HOST:$KAFKA_PORT (pid $pid), data in PostgreSQL database '$TANSU_DATABASE'"
}

stop_kafka() {
    local pid
    if ! pid="$(tansu_pid)"; then
        rm -f "$TANSU_PID_FILE"
        log "Kafka broker (tansu) not running"
        return
    fi

    # tansu 0.6 aborts its connection tasks at once on SIGINT, but on SIGTERM it waits up to 5 s
    # for them, and a connected idle client keeps its task alive for all of that time. tansu writes
    # each produce request in one PostgreSQL transaction, so a request cut off by SIGINT is rolled
    # back and never acknowledged, and the client sends it again after the restart.
    log "stopping Kafka broker (tansu, pid $pid)"
    kill -INT "$pid" 2>/dev/null || true

    local attempt
    for attempt in $(seq 1 $((TANSU_STOP_WAIT_SECONDS * 10))); do
        process_is_running "$pid" tansu || break
        sleep 0.1
    done
    if process_is_running "$pid" tansu; then
        log "Kafka broker (tansu, pid $pid) still running ${TANSU_STOP_WAIT_SECONDS} s after SIGINT; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi

    # Wait for the port to close, so that an immediate kafka-start can bind it again.
    for attempt in $(seq 1 50); do
        port_is_open "$KAFKA_PORT" || break
        sleep 0.1
    done
    rm -f "$TANSU_PID_FILE"
}

# ---------------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------------

cmd_start() {
    local started_ms=$((${EPOCHREALTIME/./} / 1000))
    mkdir -p "$STATE_DIR"

    ensure_postgres
    ensure_database "$TEST_DATABASE"
    check_standalone_redis
    start_redis_cluster
    start_kafka
    log "all services up in $((${EPOCHREALTIME/./} / 1000 - started_ms)) ms"
}

cmd_stop() {
    stop_kafka
    stop_redis_cluster
    log "stopped the Redis Cluster and the Kafka broker; PostgreSQL and the Redis on port $STANDALONE_REDIS_PORT keep running"
}

cmd_status() {
    local failures=0

    if postgres_is_ready; then
        echo "postgresql      up    $PG_HOST:$PG_PORT"
    else
        echo "postgresql      DOWN  $PG_HOST:$PG_PORT"
        failures=$((failures + 1))
    fi

    if [[ "$(timeout 5 redis-cli -h "$HOST" -p "$STANDALONE_REDIS_PORT" ping 2>/dev/null)" == PONG ]]; then
        echo "redis           up    $HOST:$STANDALONE_REDIS_PORT"
    else
        echo "redis           DOWN  $HOST:$STANDALONE_REDIS_PORT"
        failures=$((failures + 1))
    fi

    local last_port=$((REDIS_CLUSTER_BASE_PORT + REDIS_CLUSTER_NODE_COUNT - 1))
    if redis_cluster_is_healthy; then
        echo "redis-cluster   up    $HOST:$REDIS_CLUSTER_BASE_PORT-$last_port"
    else
        echo "redis-cluster   DOWN  $HOST:$REDIS_CLUSTER_BASE_PORT-$last_port"
        failures=$((failures + 1))
    fi
    local port
    for port in $(redis_cluster_ports); do
        local role
        role="$(redis_node_cli "$port" role 2>/dev/null | head -n 1 || true)"
        echo "  node $port      ${role:-not responding}"
    done

    local pid tansu_bin
    tansu_bin="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
    if pid="$(tansu_pid)" && tansu_is_serving "$tansu_bin"; then
        echo "kafka (tansu)   up    $HOST:$KAFKA_PORT pid $pid"
    else
        echo "kafka (tansu)   DOWN  $HOST:$KAFKA_PORT"
        failures=$((failures + 1))
    fi

    ((failures == 0))
}

cmd_env() {
    echo "export ONSALE_TEST_REDIS_CLUSTER=$(redis_cluster_urls)"
    echo "export ONSALE_TEST_KAFKA_BROKERS=$HOST:$KAFKA_PORT"
    echo "export ONSALE_TEST_DATABASE_URL=postgres://$PG_USER@$PG_HOST:$PG_PORT/$TEST_DATABASE"
    echo "export ONSALE_TEST_SERVICES_SCRIPT=$SCRIPT_PATH"
}

usage() {
    cat >&2 <<EOF
Usage: $(basename "$SCRIPT_PATH") COMMAND

Commands:
  start        check PostgreSQL and Redis on port $STANDALONE_REDIS_PORT, start the Redis Cluster and
               the Kafka broker. A healthy service is left as it is. Stopped nodes of a running
               cluster are restarted, and a cluster that cannot be repaired is rebuilt empty.
  stop         stop the Redis Cluster and the Kafka broker (never PostgreSQL or Redis on port $STANDALONE_REDIS_PORT)
  status       print the state of every service; exits 1 if any is down
  env          print export lines for the test suite: eval "\$($SCRIPT_PATH env)"
  kafka-stop   stop only the Kafka broker; topics, records and offsets stay in PostgreSQL
  kafka-start  start only the Kafka broker

State directory: $STATE_DIR (set ONSALE_SERVICES_DIR to change it)
EOF
}

# Serializes the commands that start or stop services, so that two test binaries that call
# this script at the same time do not start the same node twice. The servers are started with
# file descriptor 9 closed, because a server that inherited it would hold the lock forever.
take_lock() {
    mkdir -p "$STATE_DIR"
    exec 9>"$STATE_DIR/services.lock"
    flock 9
}

main() {
    case "${1:-}" in
        start) take_lock && cmd_start ;;
        stop) take_lock && cmd_stop ;;
        status) cmd_status ;;
        env) cmd_env ;;
        kafka-start) take_lock && start_kafka ;;
        kafka-stop) take_lock && stop_kafka ;;
        -h | --help | help) usage ;;
        *)
            usage
            exit 2
            ;;
    esac
}

main "$@"
