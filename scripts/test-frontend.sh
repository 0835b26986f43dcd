#!/usr/bin/env bash
# Tests the fans' web app in a real browser: builds it (scripts/build-frontend.sh), installs
# Debian's Chromium when it is missing, starts `onsale up` on embedded engines with the built app
# and the 2023 tour seeded, and runs frontend/e2e/onsale.e2e.mjs with playwright-core. The test
# walks a fan from the event list through the queue to two QR codes, checks that a second fan
# sees the held seats taken within 2 s, and checks the map's load and redraw times.
#
# Screenshots of each step and metrics.json go to target/e2e-screenshots/ (or $SCREENSHOT_DIR).
#
# Usage: scripts/test-frontend.sh [--dev]
#   --dev  test a debug build of the app (faster to build, slower to run; the timing limits
#          are for the release build)
#
# Environment: SKIP_FRONTEND_BUILD=1 tests the app already in frontend/dist as it is.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$root/$target_dir" ;;
esac
shots="${SCREENSHOT_DIR:-$target_dir/e2e-screenshots}"

say() { printf 'test-frontend: %s\n' "$*" >&2; }

# 1. Tools: Chromium from Debian, playwright-core and binaryen from npm.
if [[ ! -x /usr/bin/chromium ]]; then
  say "installing Debian's chromium (apt-get)"
  if [[ "$(id -u)" == 0 ]]; then
    apt-get install -y --no-install-recommends chromium >&2
  else
    sudo apt-get install -y --no-install-recommends chromium >&2
  fi
fi
if [[ ! -x frontend/node_modules/.bin/wasm-opt || ! -d frontend/node_modules/playwright-core ]]; then
  say "installing playwright-core and binaryen from npm into frontend/node_modules"
  (cd frontend && npm ci --no-audit --no-fund >&2)
fi

# 2. The app and the server.
[[ -n "${SKIP_FRONTEND_BUILD:-}" ]] || bash scripts/build-frontend.sh "$@"
say "building onsale"
cargo build -p onsale-origin --bin onsale
onsale="$target_dir/debug/onsale"

data="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

say "starting onsale up on embedded engines"
# A long admission lets the test take its time on a slow machine; the hold TTL stays at its
# default. Logs go to a file, printed if the test fails.
RUST_LOG="${RUST_LOG:-warn}" "$onsale" up --data-dir "$data/onsale" --listen 127.0.0.1:0 \
  --static-dir frontend/dist >"$data/server.out" 2>"$data/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 600); do
  url="$(sed -n 's/^onsale is up on \(http:[^ ]*\)$/\1/p' "$data/server.out" | head -n1)"
  [[ -n "$url" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$data/server.out" "$data/server.log" >&2
    say "onsale up exited before it listened"
    exit 1
  fi
  sleep 0.2
done
if [[ -z "$url" ]]; then
  cat "$data/server.log" >&2
  say "onsale up did not listen within 120 s"
  exit 1
fi
say "onsale is up on $url"

admin_token="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).admin_token)' "$data/onsale/keys.json")"
# The largest venue of the seeded tour: MetLife Stadium, 72,483 generated seats.
event_id="$(curl -sf "$url/api/v1/events" | node -e '
  let text = ""; process.stdin.on("data", (chunk) => text += chunk).on("end", () => {
    const events = JSON.parse(text).events;
    events.sort((a, b) => b.seat_count - a.seat_count || a.id - b.id);
    console.log(events[0].id);
  });')"
say "testing on event $event_id"

rm -rf "$shots"
if ! ONSALE_URL="$url" ONSALE_ADMIN_TOKEN="$admin_token" ONSALE_EVENT_ID="$event_id" SCREENSHOT_DIR="$shots" \
  node frontend/e2e/onsale.e2e.mjs; then
  say "the end-to-end test failed; the server's log follows, and the screenshots are in $shots"
  tail -n 50 "$data/server.log" >&2
  exit 1
fi
say "passed; screenshots and metrics.json in $shots"
