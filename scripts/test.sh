#!/usr/bin/env bash
# Runs the whole test suite. It starts (or reuses) the Redis Cluster and the Kafka broker with
# scripts/services.sh, checks PostgreSQL, and runs every workspace test against them. Then it
# builds the shared crate for wasm32, tests the edge gate (Worker in workerd, Lambda@Edge in
# node), runs the web app's end-to-end test in headless Chromium, runs the offline Terraform
# checks, and builds onsale with Kafka TLS.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf '[test] %s\n' "$*" >&2; }

bash scripts/services.sh start
eval "$(bash scripts/services.sh env)"

# Test databases are dropped by the tests themselves; a test binary that aborted leaves some
# behind, so drop leftovers of earlier runs first.
leftovers=$(psql -h 127.0.0.1 -U postgres -d test -Atc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'onsale\_t\_%' OR datname LIKE 'tansu\_t\_%'")
for database in $leftovers; do
    psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

log "cargo test --workspace"
cargo test --workspace --no-fail-fast "$@"

log "building onsale-shared for wasm32-unknown-unknown"
cargo build -p onsale-shared --target wasm32-unknown-unknown

log "edge gate: Worker and Lambda@Edge"
bash scripts/test-edge.sh

log "web app: release build and the end-to-end test in headless Chromium"
bash scripts/test-frontend.sh

log "terraform: fmt, parse, checkov and the Lambda@Edge package it uploads"
bash scripts/check-terraform.sh
bash scripts/check-terraform.sh --lambda-package

log "building onsale with the kafka-tls feature (librdkafka with OpenSSL)"
cargo build -p onsale-origin --features kafka-tls

log "all tests passed"
