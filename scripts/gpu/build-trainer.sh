#!/usr/bin/env bash
# Builds the CUDA trainer on a machine without a GPU or nvcc (kernels compile at run time
# with NVRTC) and stages it in .carry/ for the GPU machine, which has no Rust toolchain.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -p trainer --features cuda
mkdir -p .carry
cp "$TARGET_DIR/release/trainer" .carry/trainer
strip .carry/trainer
echo "staged .carry/trainer ($(du -h .carry/trainer | cut -f1))"
