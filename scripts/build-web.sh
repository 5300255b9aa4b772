#!/usr/bin/env bash
# Builds the embeddable package into www/pkg (where the demo page loads it): the wasm module
# (web/, Debian's rustc-web with -Zbuild-std, then wasm-bindgen), the package's own files
# (web/package/) and the browser's quantised copies of the shipped models (`trainer export-web`).
# Run scripts/setup.sh once first. TRAINER: a built trainer binary (default: the debug build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/env.sh"
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# wasm SIMD (every browser with WebGPU has it) speeds up the CPU fallback's matrix kernels
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128"
deb_cargo build -q -p hypernoise-web --profile wasm --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
unset RUSTFLAGS
rm -rf www/pkg
"$WASM_BINDGEN" --target web --remove-name-section --remove-producers-section --out-dir www/pkg "$TARGET_DIR/wasm32-unknown-unknown/wasm/hypernoise_web.wasm"
cp web/package/* www/pkg/
TRAINER=${TRAINER:-$TARGET_DIR/debug/trainer}
[ -x "$TRAINER" ] || cargo build -q -p trainer
"$TRAINER" export-web --out www/pkg/models
# zlib at level 9, as the browser tests count the download (GNU gzip -9 makes the 5-bit
# generator 5% larger)
gz() { node -e 'process.stdout.write(String(require("zlib").gzipSync(require("fs").readFileSync(process.argv[1]), { level: 9 }).length))' "$1"; }
total=0
first=0
for f in www/pkg/hypernoise_web_bg.wasm www/pkg/hypernoise_web.js www/pkg/index.js www/pkg/models/*.safetensors; do
  total=$((total + $(gz "$f")))
  # the page's first image waits for the module, its glue and the generator alone
  case "$f" in *hypernoise.safetensors|*reward.safetensors) ;; *) first=$((first + $(gz "$f"))) ;; esac
  printf '  %-40s %9d bytes, %9d gzip\n' "$f" "$(stat -c %s "$f")" "$(gz "$f")"
done
echo "built www/pkg: the page downloads $total bytes gzip (wasm, glue and models), $first before its first image"
