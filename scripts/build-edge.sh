#!/usr/bin/env bash
# Builds the edge gate for both of its hosts:
#   - the Cloudflare Worker into edge/dist/worker/ (index.js and index_bg.wasm; wrangler.toml
#     points at it), with worker-build;
#   - the Lambda@Edge package into edge/dist/lambda/ (handler.js, the wasm-bindgen output for
#     Node.js, config.json, package.json), with cargo and wasm-bindgen. Its handler is
#     `handler.handler`.
# It then prints the size of each Wasm file, raw and gzipped.
#
# Tools come from the package registries only, and each is installed when missing:
#   - worker-build 0.8.7 and wasm-bindgen-cli from crates.io. The CLI gets the version of the
#     wasm-bindgen crate in Cargo.lock, because wasm-bindgen output only works with a CLI of the
#     same version;
#   - wrangler (with its esbuild and workerd) and binaryen's wasm-opt from npm, into
#     edge/node_modules as edge/package-lock.json pins them.
# worker-build would download wasm-bindgen, wasm-opt and esbuild itself; WASM_BINDGEN_BIN,
# WASM_OPT_BIN and ESBUILD_BIN point it at these instead. Debian's binaryen is never used: its
# wasm-opt 108 breaks wasm-bindgen 0.2.130 output.
#
# Usage: scripts/build-edge.sh [all|worker|lambda|tools]   (default: all)
#
# Environment:
#   ONSALE_EDGE_TOKEN_PUBLIC_KEY      Ed25519 public key (base64) built into the Lambda package's
#                                     config.json; `onsale keygen` prints it. Without it the
#                                     package returns 500 for every seat request.
#   ONSALE_EDGE_TOKEN_LEEWAY_SECONDS  expiry leeway built into config.json (default: 5, the
#                                     origin's default)
#   CARGO_TARGET_DIR                  as for cargo
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf '[build-edge] %s\n' "$*" >&2; }

what="${1:-all}"
case "$what" in
    all | worker | lambda | tools) ;;
    *)
        echo "usage: scripts/build-edge.sh [all|worker|lambda|tools]" >&2
        exit 2
        ;;
esac

WORKER_BUILD_VERSION=0.8.7
edge="$repo/edge"
dist="$edge/dist"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$cargo_bin:$PATH"

ensure_wasm_target() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
}

# The wasm-bindgen version in Cargo.lock, such as 0.2.130.
locked_wasm_bindgen_version() {
    cargo pkgid -p wasm-bindgen | sed 's/.*[@#]//'
}

ensure_wasm_bindgen() {
    local wanted installed=""
    wanted="$(locked_wasm_bindgen_version)"
    if [[ -x "$cargo_bin/wasm-bindgen" ]]; then
        installed="$("$cargo_bin/wasm-bindgen" --version | awk '{print $2}')"
    fi
    if [[ "$installed" != "$wanted" ]]; then
        log "installing wasm-bindgen-cli $wanted from crates.io (found: ${installed:-none})"
        # Without --locked: the CLI's own lock file pins a yanked crate.
        cargo install wasm-bindgen-cli --version "$wanted"
    fi
    WASM_BINDGEN_BIN="$cargo_bin/wasm-bindgen"
}

ensure_worker_build() {
    local installed=""
    if [[ -x "$cargo_bin/worker-build" ]]; then
        installed="$("$cargo_bin/worker-build" --version)"
    fi
    if [[ "$installed" != "$WORKER_BUILD_VERSION" ]]; then
        log "installing worker-build $WORKER_BUILD_VERSION from crates.io (found: ${installed:-none})"
        cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
    fi
}

ensure_npm_tools() {
    local stamp="$edge/node_modules/.package-lock.json"
    if [[ ! -f "$stamp" || "$edge/package-lock.json" -nt "$stamp" ]]; then
        log "installing wrangler and binaryen from npm into edge/node_modules"
        (cd "$edge" && npm ci --no-audit --no-fund)
    fi
    WASM_OPT_BIN="$edge/node_modules/.bin/wasm-opt"
    ESBUILD_BIN="$edge/node_modules/.bin/esbuild"
}

target_dir() {
    cargo metadata --format-version 1 --no-deps |
        node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))'
}

# Prints "<file>: <raw> bytes, <gzip> bytes gzipped".
report_size() {
    local file="$1" raw gzipped
    raw="$(wc -c <"$file")"
    gzipped="$(gzip -9 -c "$file" | wc -c)"
    printf '[build-edge] %s: %d bytes (%d KiB), gzip -9: %d bytes (%d KiB)\n' \
        "${file#"$repo"/}" "$raw" $((raw / 1024)) "$gzipped" $((gzipped / 1024)) >&2
}

build_worker() {
    log "building the Cloudflare Worker into edge/dist/worker"
    (
        cd "$edge"
        WASM_BINDGEN_BIN="$WASM_BINDGEN_BIN" WASM_OPT_BIN="$WASM_OPT_BIN" ESBUILD_BIN="$ESBUILD_BIN" \
            worker-build --release --out-dir dist/worker --features worker
    )
    report_size "$dist/worker/index_bg.wasm"
    report_size "$dist/worker/index.js"
}

build_lambda() {
    local out="$dist/lambda" wasm
    log "building the Lambda@Edge package into edge/dist/lambda"
    cargo build -p onsale-edge --lib --release --target wasm32-unknown-unknown --features lambda
    wasm="$(target_dir)/wasm32-unknown-unknown/release/onsale_edge.wasm"

    rm -rf "$out"
    mkdir -p "$out"
    "$WASM_BINDGEN_BIN" --target nodejs --no-typescript --out-dir "$out" "$wasm"
    # The same feature set worker-build enables; Node.js 20 and later run all of them.
    "$WASM_OPT_BIN" -Oz --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
        --enable-bulk-memory --enable-multivalue --enable-reference-types \
        "$out/onsale_edge_bg.wasm" -o "$out/onsale_edge_bg.wasm"
    cp "$edge/lambda/handler.js" "$out/handler.js"
    printf '{\n  "name": "onsale-edge-lambda",\n  "private": true,\n  "main": "handler.js"\n}\n' >"$out/package.json"

    local key="${ONSALE_EDGE_TOKEN_PUBLIC_KEY:-}" leeway="${ONSALE_EDGE_TOKEN_LEEWAY_SECONDS:-5}"
    if [[ -z "$key" ]]; then
        log "ONSALE_EDGE_TOKEN_PUBLIC_KEY is not set: the package returns 500 for every seat request until config.json has the key"
    fi
    KEY="$key" LEEWAY="$leeway" node -e '
        const config = {
            token_algorithm: "ed25519",
            token_public_key: process.env.KEY,
            token_leeway_seconds: Number(process.env.LEEWAY),
        };
        if (!Number.isInteger(config.token_leeway_seconds)) {
            console.error(`ONSALE_EDGE_TOKEN_LEEWAY_SECONDS is ${process.env.LEEWAY}; expected whole seconds`);
            process.exit(1);
        }
        process.stdout.write(JSON.stringify(config, null, 2) + "\n");
    ' >"$out/config.json"

    # Load the package once, as Lambda would, so that a broken bundle fails here.
    (cd "$out" && node -e 'const { handler } = require("./handler.js"); if (typeof handler !== "function") process.exit(1);')
    report_size "$out/onsale_edge_bg.wasm"
}

ensure_wasm_target
ensure_wasm_bindgen
ensure_npm_tools
case "$what" in
    tools) ;;
    worker)
        ensure_worker_build
        build_worker
        ;;
    lambda) build_lambda ;;
    all)
        ensure_worker_build
        build_worker
        build_lambda
        ;;
esac
