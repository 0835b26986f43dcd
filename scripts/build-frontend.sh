#!/usr/bin/env bash
# Builds the fans' web app (crate onsale-frontend) into frontend/dist/: content-hashed
# app-<hash>.js, app-<hash>_bg.wasm and style-<hash>.css, which a CDN may cache for a year,
# and a short index.html that must always be revalidated. `onsale serve` and `onsale up` serve
# frontend/dist/ when it exists.
#
# Everything comes from the package registries: the wasm32 target from rustup, wasm-bindgen's
# CLI from crates.io at exactly the version in Cargo.lock, and wasm-opt only from npm's
# binaryen package under node_modules (the repository's, frontend/'s, or edge/'s, where
# scripts/build-edge.sh installs it). Debian's binaryen is never used, because its 108 release
# breaks the output of wasm-bindgen 0.2.130 (the page never mounts).
#
# Usage: scripts/build-frontend.sh [--dev]
#   --dev  a debug build without wasm-opt: it compiles faster, and its Wasm is several times
#          larger and slower. For working on the app, never for a release.
#
# Environment:
#   CARGO_TARGET_DIR  where cargo builds (default: target/ in the repository)
#   WASM_BINDGEN_BIN  a wasm-bindgen binary to use instead of the one on PATH
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$root/$target_dir" ;;
esac
dist="$root/frontend/dist"

say() { printf 'build-frontend: %s\n' "$*" >&2; }

profile=release
profile_dir=release
case "${1:-}" in
  "") ;;
  --dev)
    profile=dev
    profile_dir=debug
    ;;
  *)
    echo "usage: scripts/build-frontend.sh [--dev]" >&2
    exit 2
    ;;
esac

# 1. The wasm32 target.
if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "installing the wasm32-unknown-unknown target with rustup"
    rustup target add wasm32-unknown-unknown
  fi
else
  say "rustup not found: assuming the wasm32-unknown-unknown target is installed"
fi

# 2. wasm-bindgen's CLI at the version of the wasm-bindgen crate in Cargo.lock. Its output
#    only works with the same version of the crate.
version="$(cargo pkgid -p wasm-bindgen | sed 's/.*[@#]//')"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  say "could not read the wasm-bindgen version from Cargo.lock (cargo pkgid gave '$version')"
  exit 1
fi
wasm_bindgen="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || true)}"
if [[ -z "$wasm_bindgen" && -x "$HOME/.cargo/bin/wasm-bindgen" ]]; then
  wasm_bindgen="$HOME/.cargo/bin/wasm-bindgen"
fi
found=""
if [[ -n "$wasm_bindgen" ]]; then
  found="$("$wasm_bindgen" --version 2>/dev/null | awk '{print $2}')"
fi
if [[ "$found" != "$version" ]]; then
  say "wasm-bindgen $version is needed (found: ${found:-none}); installing wasm-bindgen-cli $version from crates.io."
  say "This compiles the CLI and takes a few minutes."
  # Without --locked: the lock file published with wasm-bindgen-cli pins a yanked crate.
  cargo install wasm-bindgen-cli --version "$version"
  wasm_bindgen="$HOME/.cargo/bin/wasm-bindgen"
  if [[ -n "${CARGO_INSTALL_ROOT:-}" ]]; then
    wasm_bindgen="$CARGO_INSTALL_ROOT/bin/wasm-bindgen"
  fi
fi

# 3. The app, compiled for the browser.
if [[ "$profile" == release ]]; then
  # Size over speed for the browser, for this build only. Link-time optimization, opt-level z
  # and one codegen unit made this app's Wasm about 30% smaller after wasm-opt. Measured: 1.36 MB
  # to 0.96 MB, and 508 KB to 390 KB gzipped, for about a minute more of build time.
  export CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
fi
say "compiling onsale-frontend for wasm32-unknown-unknown ($profile profile)"
cargo build -p onsale-frontend --target wasm32-unknown-unknown --profile "$profile"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$wasm_bindgen" --target web --no-typescript --out-dir "$work" --out-name app \
  "$target_dir/wasm32-unknown-unknown/$profile_dir/onsale_frontend.wasm"

# 4. wasm-opt, only from npm's binaryen. A release build installs frontend/package.json's
#    pinned tools when npm is present; without npm the build goes on unoptimized.
if [[ "$profile" == release && ! -x frontend/node_modules/.bin/wasm-opt ]] && command -v npm >/dev/null 2>&1; then
  say "installing binaryen (wasm-opt) from npm into frontend/node_modules"
  (cd frontend && npm ci --no-audit --no-fund >&2) || say "npm ci failed; building without wasm-opt"
fi
wasm_opt=""
for candidate in "$root/node_modules/.bin/wasm-opt" "$root/frontend/node_modules/.bin/wasm-opt" \
  "$root/edge/node_modules/.bin/wasm-opt"; do
  if [[ -x "$candidate" ]]; then
    wasm_opt="$candidate"
    break
  fi
done
if [[ "$profile" == dev ]]; then
  say "skipping wasm-opt for the --dev build"
elif [[ -n "$wasm_opt" ]]; then
  say "optimizing with $("$wasm_opt" --version) ($wasm_opt)"
  # The features that Rust's wasm32-unknown-unknown target enables by default (Rust 1.82+).
  "$wasm_opt" -Oz \
    --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-reference-types --enable-multivalue \
    -o "$work/app_bg.opt.wasm" "$work/app_bg.wasm"
  mv "$work/app_bg.opt.wasm" "$work/app_bg.wasm"
else
  say "skipping wasm-opt: no npm binaryen under node_modules (npm install binaryen@132 adds it)"
fi

# 5. Content-hashed names and the page that loads them.
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
app_hash="$(hash_of "$work/app.js" "$work/app_bg.wasm")"
style_hash="$(hash_of frontend/style.css)"
app_js="app-$app_hash.js"
app_wasm="app-${app_hash}_bg.wasm"
style_css="style-$style_hash.css"

staging="$work/dist"
rm -rf "$staging"
mkdir -p "$staging"
# The generated module looks for app_bg.wasm next to itself when no path is given.
sed "s/'app_bg\.wasm'/'$app_wasm'/g" "$work/app.js" >"$staging/$app_js"
cp "$work/app_bg.wasm" "$staging/$app_wasm"
cp frontend/style.css "$staging/$style_css"
cat >"$staging/index.html" <<HTML
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>onsale</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/$style_css">
<link rel="modulepreload" href="/$app_js">
<link rel="preload" href="/$app_wasm" as="fetch" type="application/wasm" crossorigin>
</head>
<body>
<noscript>This app needs JavaScript and WebAssembly.</noscript>
<script type="module">
import init from "/$app_js";
init({ module_or_path: "/$app_wasm" }).catch((error) => {
  console.error("onsale app failed to start", error);
  document.body.innerHTML = '<main class="crash" data-testid="app-crashed" role="alert"><h1>The app could not start</h1>'
    + '<p>Check your connection and reload the page. The app needs a browser with WebAssembly.</p></main>';
});
</script>
</body>
</html>
HTML

rm -rf "$dist"
mv "$staging" "$dist"
wasm_bytes="$(stat -c %s "$dist/$app_wasm")"
wasm_gzip="$(gzip -9 -c "$dist/$app_wasm" | wc -c)"
say "wrote $dist: $app_js, $app_wasm ($wasm_bytes bytes, $wasm_gzip gzipped), $style_css, index.html"
