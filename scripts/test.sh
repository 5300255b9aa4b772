#!/usr/bin/env bash
# Runs every test: the format and lint gates, Rust unit and integration tests (CPU), the wasm
# build, and the browser tests in headless Chromium. Installs what is missing first (scripts/setup.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

# gates: one format, no lint warnings (rustfmt.toml; the lints in Cargo.toml's [workspace.lints])
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# the wasm package is tested in the browser below (natively it would build all of wgpu)
cargo test --workspace --exclude hypernoise-web
cargo build -q -p trainer
scripts/build-web.sh
(cd tests/browser && TRAINER="$TARGET_DIR/debug/trainer" ARTIFACTS="${ARTIFACTS:-$TARGET_DIR/test-artifacts}" node --test)
