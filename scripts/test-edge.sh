#!/usr/bin/env bash
# Builds the edge gate and runs its tests:
#   1. scripts/build-edge.sh: the Worker and the Lambda@Edge package, with their Wasm sizes;
#   2. `wrangler deploy --dry-run`, which bundles the Worker as an upload would and prints its
#      size, and fails the run if the gzipped upload reaches WORKER_GZIP_LIMIT_KIB;
#   3. clippy on the Worker and Lambda glue, which only builds for wasm32;
#   4. the native tests of onsale-edge (the gate, and the shared (token, time) table through the
#      origin's verifier and the gate);
#   5. node's test runner on the Lambda@Edge handler with CloudFront viewer-request events
#      (edge/tests/js/lambda.test.mjs);
#   6. the Worker suite (edge/tests/js/worker.test.mjs): `onsale up` on its embedded engines, a
#      recording proxy, and `wrangler dev` in workerd on 127.0.0.1, all on free loopback ports.
#      It prints the attack results, the verdict table of the native origin verifier, the
#      Lambda@Edge handler and the Worker, and the cache results.
# Nothing contacts Cloudflare: wrangler runs without login, with metrics and the cf-object fetch
# turned off.
#
# Usage: scripts/test-edge.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf '[test-edge] %s\n' "$*" >&2; }

export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false

# Cloudflare's Workers Free plan takes a Worker of up to 3 MB after compression
# (https://developers.cloudflare.com/workers/platform/limits/#worker-size); 3,000 KiB stays below
# that whether the MB is 10^6 or 2^20 bytes.
WORKER_GZIP_LIMIT_KIB=3000

log "building the Worker and the Lambda@Edge package"
bash scripts/build-edge.sh all

log "Worker upload size (wrangler deploy --dry-run, nothing is uploaded)"
dry_run="$(mktemp -d)"
trap 'rm -rf "$dry_run"' EXIT
if ! edge/node_modules/.bin/wrangler deploy --dry-run --outdir "$dry_run" >"$dry_run/wrangler.log" 2>&1; then
    cat "$dry_run/wrangler.log" >&2
    log "wrangler deploy --dry-run failed"
    exit 1
fi
size_line="$(grep 'Total Upload:' "$dry_run/wrangler.log")"
log "$size_line"
gzip_kib="$(sed -E 's/.*gzip: ([0-9.]+) KiB.*/\1/' <<<"$size_line")"
if ! awk -v size="$gzip_kib" -v limit="$WORKER_GZIP_LIMIT_KIB" 'BEGIN { exit !(size < limit) }'; then
    log "the gzipped Worker upload of $gzip_kib KiB passes the limit of $WORKER_GZIP_LIMIT_KIB KiB"
    exit 1
fi

log "clippy on the Worker and Lambda glue (wasm32)"
for feature in worker lambda; do
    cargo clippy -p onsale-edge --no-deps --lib --target wasm32-unknown-unknown --features "$feature" -- -D warnings
done

log "cargo test -p onsale-edge"
cargo test -p onsale-edge

log "Lambda@Edge handler and Worker suites (node --test)"
node --test --test-concurrency=1 edge/tests/js/lambda.test.mjs edge/tests/js/worker.test.mjs

log "all edge tests passed"
