#!/usr/bin/env bash
# Builds the CUDA trainer on a machine without a GPU or nvcc (kernels compile at run time
# with NVRTC) and stages it in .carry/ for the GPU machine, which has no Rust toolchain
# (scripts/gpu/generator.sh runs it there).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -p trainer --features cuda
mkdir -p .carry
# compressed: the binary, a checkpoint and the kernel cache must travel together under 64 MiB
strip -o /tmp/trainer-stripped "$TARGET_DIR/release/trainer"
gzip -9 -c /tmp/trainer-stripped > .carry/trainer.gz
echo "staged .carry/trainer.gz ($(du -h .carry/trainer.gz | cut -f1))"
