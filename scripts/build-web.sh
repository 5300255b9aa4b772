#!/usr/bin/env bash
# Builds the wasm package (web/) with Debian's rustc-web and -Zbuild-std, then wasm-bindgen
# into www/pkg, where the demo page loads it. Run scripts/setup.sh once first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/env.sh"
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
deb_cargo build -q -p hypernoise-web --profile wasm --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
"$WASM_BINDGEN" --target web --remove-name-section --remove-producers-section --out-dir www/pkg "$TARGET_DIR/wasm32-unknown-unknown/wasm/hypernoise_web.wasm"
echo "built www/pkg ($(du -k www/pkg/hypernoise_web_bg.wasm | cut -f1) KiB wasm, $(gzip -9c www/pkg/hypernoise_web_bg.wasm | wc -c) bytes gzip)"
