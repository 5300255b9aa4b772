#!/usr/bin/env bash
# Builds the CUDA trainer on a machine without a GPU or nvcc (kernels compile at run time
# with NVRTC) and stages it in .carry/ for the GPU machine, which has no Rust toolchain
# (scripts/gpu/generator.sh runs it there).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# burn 0.21's matmuls (cubek-matmul 0.2.0; no fixed 0.2 release exists) run their double-buffered
# and specialized kernels over an even number of k-stages but guard k only when it is not a
# multiple of one stage: where k is an odd multiple of a stage (32, the adapters' rank, for one),
# they read past the operands and add what lies there (tracel-ai/cubek#434, burn#5237; fixed
# upstream in cubek 0.3). The CUDA build uses a copy of the registry's source whose guard
# counts two stages; the copy lives in the target dir, and Cargo.lock is put back afterwards.
PATCHED="$TARGET_DIR/patched/cubek-matmul-0.2.0"
ORIGINAL=$(cargo metadata --format-version 1 --locked --filter-platform x86_64-unknown-linux-gnu \
  | python3 -c "import json,sys; print(next(p['manifest_path'] for p in json.load(sys.stdin)['packages'] if p['name'] == 'cubek-matmul' and p['version'] == '0.2.0'))")
rm -rf "$PATCHED" && mkdir -p "$(dirname "$PATCHED")" && cp -r "$(dirname "$ORIGINAL")" "$PATCHED"
python3 - "$PATCHED/src/definition/blueprint.rs" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
guard = "!(problem.k as u32).is_multiple_of(tiling_scheme.elements_per_stage_along_k())"
assert src.count(guard) == 1, "cubek-matmul's k guard is not where this patch expects it"
open(path, "w").write(src.replace(guard, guard.replace("is_multiple_of(", "is_multiple_of(2 * ")))
PY
cp Cargo.lock "$TARGET_DIR/Cargo.lock.unpatched"
trap 'cp "$TARGET_DIR/Cargo.lock.unpatched" Cargo.lock' EXIT
HYPERNOISE_CUBEK_K_GUARD_FIXED=1 cargo build --release -p trainer --features cuda --config "patch.crates-io.cubek-matmul.path='$PATCHED'"
mkdir -p .carry
# compressed (xz: 7 MB, gzip: 11): the binary, the kernel cache and the repository's weights
# must travel together under 64 MiB; common.sh unpacks it with Python's lzma
strip -o /tmp/trainer-stripped "$TARGET_DIR/release/trainer"
rm -f .carry/trainer.gz
xz -9e -T2 -c /tmp/trainer-stripped > .carry/trainer.xz
echo "staged .carry/trainer.xz ($(du -h .carry/trainer.xz | cut -f1))"
