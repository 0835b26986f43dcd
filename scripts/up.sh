#!/usr/bin/env bash
# The whole platform on one machine with nothing to install but Rust: builds the fans' web app
# when frontend/dist is missing or older than its sources, then runs `onsale up` (release build)
# on the embedded engines. It serves the app and the API on http://127.0.0.1:8080.
#
# Usage: scripts/up.sh [onsale up flags]
#   With no flags it runs `onsale up --demo --keep-serving`: a scripted onsale of 3,000 fans,
#   its report, then the server stays up so that a fan can buy in the browser. Any flags replace
#   these, for example `scripts/up.sh --auto-open-queues` to skip the demo and open every queue.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf 'up: %s\n' "$*" >&2; }

stale=""
if [[ ! -f frontend/dist/index.html ]]; then
  stale="it has not been built"
elif [[ -n "$(find frontend/src frontend/style.css frontend/Cargo.toml shared/src Cargo.lock \
  -newer frontend/dist/index.html -print -quit)" ]]; then
  stale="its sources changed"
fi
if [[ -n "$stale" ]]; then
  say "building the web app ($stale); the first build also compiles wasm-bindgen's CLI"
  if ! bash scripts/build-frontend.sh; then
    say "the web app did not build; starting onsale without it (the API and the demo still work)"
  fi
fi

if [[ $# -eq 0 ]]; then
  set -- --demo --keep-serving
fi
exec cargo run --release -p onsale-origin -- up "$@"
