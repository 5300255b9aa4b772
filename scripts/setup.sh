#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine; safe to re-run (skips what is done).
#   - wasm32 route: Debian rustc-web/cargo-web 1.96 + std sources + lld-22, used with -Zbuild-std
#     (rustup cannot download the wasm32 target here), called by absolute path so rustup stays default
#   - wasm-bindgen-cli, pinned to the wasm-bindgen crate version in Cargo.lock
#   - Debian chromium + playwright-core (driver only, never a browser download) for browser tests,
#     and node/npm when the machine has none
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/env.sh"

APT_PACKAGES=(rustc-web cargo-web rust-web-src libstd-rust-web-dev rust-web-llvm lld-22 chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# node and npm drive the browser tests and serve the page (any install will do: Debian's or another)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
test -d /usr/lib/rustlib/src/rust/library/std || { echo "setup: std sources missing (rust-web-src)"; exit 1; }
# the test gates need the default toolchain's rustfmt and clippy
for tool in fmt clippy; do
  cargo "$tool" --version >/dev/null 2>&1 || { echo "setup: cargo $tool is missing: rustup component add $([ $tool = fmt ] && echo rustfmt || echo clippy)"; exit 1; }
done

WB_VER=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/, ""); print; exit}' "$ROOT/Cargo.lock")
if ! "$WASM_BINDGEN" --version 2>/dev/null | grep -q " $WB_VER\$"; then
  echo "setup: building wasm-bindgen-cli $WB_VER (a few minutes, once per machine)"
  # not --locked: a crate its lock file pins (webpki-roots 1.0.11) is no longer on crates.io
  cargo install -q wasm-bindgen-cli --version "$WB_VER" --root "$HYPERNOISE_TOOLS"
fi

if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
  echo "setup: installing playwright-core (uses /usr/bin/chromium, downloads no browser)"
  (cd "$ROOT/tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund -q)
fi
echo "setup: ok ($(/usr/bin/rustc -V), wasm-bindgen $WB_VER, $(/usr/bin/chromium --version 2>/dev/null))"
