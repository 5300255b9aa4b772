#!/usr/bin/env bash
# Builds the GPU trainer on a machine without a GPU and stages it, compressed, in .carry/ for
# the GPU machine, which has no Rust toolchain (scripts/gpu/*.sh run it there).
#   scripts/gpu/build-trainer.sh          # LibTorch backend (--device torch): PyTorch's kernels
#   scripts/gpu/build-trainer.sh cuda     # burn's CUDA backend (--device cuda): fit --devices N over NCCL
#   scripts/gpu/build-trainer.sh wgpu     # burn-wgpu (--device wgpu): the page's WebGPU code on the GPU
#                                         # through Vulkan (scripts/gpu/webgpu-native.sh), with Debian's
#                                         # Vulkan loader, which the GPU machine lacks
# The LibTorch trainer links PyTorch's libraries dynamically: it runs where the same PyTorch
# version is installed (common.sh puts its libraries on LD_LIBRARY_PATH).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source scripts/env.sh
BACKEND=${1:-torch}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

build_torch() {
  # PyTorch's own wheel holds libtorch's headers and libraries: pinned to the GPU machine's
  # PyTorch (2.11.0, CUDA 13) and checked.
  local version=2.11.0 sha=0f68f4ac6d95d12e896c3b7a912b5871619542ec54d3649cf48cc1edd4dd2756
  local home="$HYPERNOISE_TOOLS/libtorch-$version"
  if [ ! -f "$home/.complete" ]; then
    echo "build-trainer: fetching PyTorch $version's wheel for libtorch (530 MB, once per machine)"
    local dl
    dl=$(mktemp -d)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 "torch==$version" -d "$dl"
    echo "$sha  $(ls "$dl"/torch-*.whl)" | sha256sum -c --quiet
    rm -rf "$home" && mkdir -p "$home"
    python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith(("torch/include/", "torch/lib/", "torch/share/"))])' "$dl"/torch-*.whl "$home"
    rm -rf "$dl"
    touch "$home/.complete"
  fi
  # burn-tch 0.21 pins tch 0.22, made for LibTorch 2.9: its C++ wrappers build against 2.11's
  # headers, and `trainer check-device` compares the result with the CPU's passes
  LIBTORCH="$home/torch" LIBTORCH_BYPASS_VERSION_CHECK=1 cargo build --release -p trainer --features tch
}

build_cuda() {
  export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
  # burn 0.21's matmuls (cubek-matmul 0.2.0; no fixed 0.2 release exists) run their double-buffered
  # and specialized kernels over an even number of k-stages but guard k only when it is not a
  # multiple of one stage: where k is an odd multiple of a stage (32, the adapters' rank, for one),
  # they read past the operands and add what lies there (tracel-ai/cubek#434, burn#5237; fixed
  # upstream in cubek 0.3). The CUDA build uses a copy of the registry's source whose guard
  # counts two stages; the copy lives in the target dir, and Cargo.lock is put back afterwards.
  local patched="$TARGET_DIR/patched/cubek-matmul-0.2.0" original
  original=$(cargo metadata --format-version 1 --locked --filter-platform x86_64-unknown-linux-gnu \
    | python3 -c "import json,sys; print(next(p['manifest_path'] for p in json.load(sys.stdin)['packages'] if p['name'] == 'cubek-matmul' and p['version'] == '0.2.0'))")
  rm -rf "$patched" && mkdir -p "$(dirname "$patched")" && cp -r "$(dirname "$original")" "$patched"
  python3 - "$patched/src/definition/blueprint.rs" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
guard = "!(problem.k as u32).is_multiple_of(tiling_scheme.elements_per_stage_along_k())"
assert src.count(guard) == 1, "cubek-matmul's k guard is not where this patch expects it"
open(path, "w").write(src.replace(guard, guard.replace("is_multiple_of(", "is_multiple_of(2 * ")))
PY
  cp Cargo.lock "$TARGET_DIR/Cargo.lock.unpatched"
  trap 'cp "$TARGET_DIR/Cargo.lock.unpatched" Cargo.lock' EXIT
  HYPERNOISE_CUBEK_K_GUARD_FIXED=1 cargo build --release -p trainer --features cuda --config "patch.crates-io.cubek-matmul.path='$patched'"
}

build_wgpu() {
  cargo build --release -p trainer --features wgpu
  mkdir -p .carry
  rm -f .carry/libvulkan1_*.deb
  (cd .carry && apt-get download libvulkan1)
}

case "$BACKEND" in
  torch) build_torch ;;
  cuda) build_cuda ;;
  wgpu) build_wgpu ;;
  *) echo "usage: $0 [torch|cuda|wgpu]" >&2; exit 2 ;;
esac
mkdir -p .carry
# compressed (xz): the binary and what a call trains on travel together under 64 MiB;
# common.sh unpacks it with Python's lzma
strip -o /tmp/trainer-stripped "$TARGET_DIR/release/trainer"
xz -6 -T2 -c /tmp/trainer-stripped > .carry/trainer.xz
echo "staged .carry/trainer.xz ($(du -h .carry/trainer.xz | cut -f1), $BACKEND backend)"
