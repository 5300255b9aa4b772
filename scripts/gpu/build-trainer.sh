#!/usr/bin/env bash
# Builds the GPU trainer on a machine without a GPU and stages it, compressed, in .carry/ for
# the GPU machine, which has no Rust toolchain (scripts/gpu/*.sh run it there).
#   scripts/gpu/build-trainer.sh          # LibTorch backend (--device torch): PyTorch's kernels
#   scripts/gpu/build-trainer.sh cuda     # burn's CUDA backend (--device cuda): fit --devices N over NCCL
#   scripts/gpu/build-trainer.sh wgpu     # burn-wgpu (--device wgpu): the page's WebGPU code on the GPU
#                                         # through Vulkan (scripts/gpu/webgpu-native.sh), with Debian's
#                                         # Vulkan loader, which the GPU machine lacks
#   scripts/gpu/build-trainer.sh torch wgpu   # one trainer with both: one call trains and times Vulkan
# The LibTorch trainer links PyTorch's libraries dynamically: it runs where the same PyTorch
# version is installed (common.sh puts its libraries on LD_LIBRARY_PATH).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source scripts/env.sh
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

with_torch() {
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
  # burn-tch 0.22 pins tch 0.22, made for LibTorch 2.9: its C++ wrappers build against 2.11's
  # headers, and `trainer check-device` compares the result with the CPU's passes
  export LIBTORCH="$home/torch" LIBTORCH_BYPASS_VERSION_CHECK=1
  FEATURES+=(tch)
}

# burn-cuda 0.22 (cubecl-cuda 0.11) links LLVM 23 statically (cubecl-llvm). Its build script
# downloads a bundle unless the tree is already where it looks ($XDG_DATA_HOME/tracel/
# tracel-llvm-23.1.0-4, with an empty .tracel-llvm-installed); PyPI's mlc-llvm-static wheels (the
# NVPTX target in the -extra-targets one) hold that tree. Pinned and checked.
install_llvm() {
  local version=23.1.1.post0 tree="$XDG_DATA_HOME/tracel/tracel-llvm-23.1.0-4"
  [ -f "$tree/.tracel-llvm-installed" ] && return
  echo "build-trainer: fetching LLVM $version for cubecl-llvm (92 MB of wheels, once per machine)"
  local dl
  dl=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
    "mlc-llvm-static==$version" "mlc-llvm-static-extra-targets==$version" -d "$dl"
  (cd "$dl" && sha256sum -c --quiet) <<SUMS
dcfec888abfaa418be77d41af585805f31463584cf9c90582992c00f392c1ac5  mlc_llvm_static-$version-py3-none-manylinux_2_28_x86_64.whl
c36e834d9a4e9cf9759f27fece65711ece7a2fc2b5a96dbb15d66f5e9e787929  mlc_llvm_static_extra_targets-$version-py3-none-manylinux_2_28_x86_64.whl
SUMS
  rm -rf "$tree" && mkdir -p "$tree"
  python3 - "$tree" "$dl"/*.whl <<'PY'
import os, stat, sys, zipfile
tree, wheels = sys.argv[1], sys.argv[2:]
prefix = "mlc_llvm_static/static/"
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.filename.startswith(prefix) and not info.is_dir():
                path = os.path.join(tree, info.filename[len(prefix):])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with z.open(info) as src, open(path, "wb") as dst:
                    dst.write(src.read())
                if info.filename.startswith(prefix + "bin/"):
                    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
PY
  "$tree/bin/llvm-config" --version | grep -q '^23\.' || { echo "build-trainer: the LLVM tree's llvm-config does not run" >&2; exit 1; }
  touch "$tree/.tracel-llvm-installed"
  rm -rf "$dl"
}

with_cuda() {
  export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
  export XDG_DATA_HOME="$HYPERNOISE_TOOLS/share"
  install_llvm
  FEATURES+=(cuda)
}

with_wgpu() {
  FEATURES+=(wgpu)
  mkdir -p .carry
  rm -f .carry/*.deb
  # the loader, and the glvnd libraries NVIDIA's Vulkan driver (libGLX_nvidia) needs beside it:
  # with libvulkan1 and libglvnd0 alone the driver loaded but made no Vulkan instance
  (cd .carry && apt-get -q download libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0)
}

FEATURES=()
for backend in "${@:-torch}"; do
  case "$backend" in
    torch) with_torch ;;
    cuda) with_cuda ;;
    wgpu) with_wgpu ;;
    *) echo "usage: $0 [torch|cuda|wgpu]..." >&2; exit 2 ;;
  esac
done
cargo build --release -p trainer --features "$(IFS=,; echo "${FEATURES[*]}")"
mkdir -p .carry
# compressed (xz): the binary and what a call trains on travel together under 64 MiB;
# common.sh unpacks it with Python's lzma
strip -o /tmp/trainer-stripped "$TARGET_DIR/release/trainer"
xz -6 -T2 -c /tmp/trainer-stripped > .carry/trainer.xz
echo "staged .carry/trainer.xz ($(du -h .carry/trainer.xz | cut -f1), features ${FEATURES[*]})"
