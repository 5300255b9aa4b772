#!/usr/bin/env bash
# The main job: set up, render the scene world's grid, build the wasm package (with the
# browser's copies of the shipped models) and serve the demo page on
# http://127.0.0.1:${PORT:-8080}/ (Ctrl-C stops it; SERVE=0 skips serving).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

cargo build -q --release -p trainer
"$TARGET_DIR/release/trainer" world --out world-grid.png
TRAINER="$TARGET_DIR/release/trainer" scripts/build-web.sh
if [ "${SERVE:-1}" != 0 ]; then
  exec node scripts/serve.mjs "${PORT:-8080}" www
fi
