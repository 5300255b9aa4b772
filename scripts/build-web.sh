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
rm -rf www/pkg
# two builds of one crate: with WebGPU (hypernoise_web) and without it (hypernoise_web_cpu, the
# module index.js fetches when the CPU will run the models)
wasm_module() {   # $1: the module's name; then cargo's feature arguments
  local name=$1
  shift
  deb_cargo build -q -p hypernoise-web --profile wasm --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort "$@"
  "$WASM_BINDGEN" --target web --remove-name-section --remove-producers-section --out-dir www/pkg --out-name "$name" \
    "$TARGET_DIR/wasm32-unknown-unknown/wasm/hypernoise_web.wasm"
}
wasm_module hypernoise_web
wasm_module hypernoise_web_cpu --no-default-features
unset RUSTFLAGS
cp web/package/* www/pkg/
TRAINER=${TRAINER:-$TARGET_DIR/debug/trainer}
[ -x "$TRAINER" ] || cargo build -q -p trainer
# the coarse hypernetwork: 86% of the LoRA one's gain at about the base's time (docs/browser.md)
"$TRAINER" export-web --out www/pkg/models --browser-generator weights/generator-q4.safetensors \
  --hypernoise weights/hypernoise-coarse.safetensors
# zlib at level 9, as the browser tests count the download (GNU gzip -9 makes the 5-bit
# generator 5% larger)
gz() { node -e 'process.stdout.write(String(require("zlib").gzipSync(require("fs").readFileSync(process.argv[1]), { level: 9 }).length))' "$1"; }
for f in www/pkg/*_bg.wasm www/pkg/*.js www/pkg/models/*.safetensors; do
  printf '  %-40s %9d bytes, %9d gzip\n' "$f" "$(stat -c %s "$f")" "$(gz "$f")"
done
# the page's first image waits for one build of the module, its glue and the generator alone:
# the CPU-only build's, also where WebGPU follows (the WebGPU build loads behind the first image)
sum() { local n=0 f; for f in "$@"; do n=$((n + $(gz "www/pkg/$f"))); done; echo $n; }
first="index.js models/generator.safetensors"
echo "built www/pkg: before its first image the page downloads $(sum $first hypernoise_web_cpu_bg.wasm hypernoise_web_cpu.js) bytes gzip; $(sum $first hypernoise_web_bg.wasm hypernoise_web.js) with ?backend=webgpu"
