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
# compressed (xz: 7 MB, gzip: 11): the binary, the kernel cache and the repository's weights
# must travel together under 64 MiB; common.sh unpacks it with Python's lzma
strip -o /tmp/trainer-stripped "$TARGET_DIR/release/trainer"
rm -f .carry/trainer.gz
xz -9e -T2 -c /tmp/trainer-stripped > .carry/trainer.xz
echo "staged .carry/trainer.xz ($(du -h .carry/trainer.xz | cut -f1))"
