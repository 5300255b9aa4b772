#!/usr/bin/env bash
# The page's WebGPU code path on the GPU machine's own card: the model crate on burn-wgpu natively
# (WGSL kernels, as in the browser, run through Vulkan), the base and HyperNoise (LoRA, coarse and light)
# at batch 1 and 256, `trainer --device wgpu bench`, one JSON each in $OUT.
# .carry/ holds trainer.xz and Debian's Vulkan loader and glvnd libraries (scripts/gpu/build-trainer.sh
# wgpu): the machine has NVIDIA's Vulkan driver but not the libraries it loads beside it. The
# machine is discarded after the call, so they go into /, where the driver looks for them.
set -euo pipefail
OUT=${OUT:-out}
mkdir -p "$OUT" runs
exec > >(tee -a "$OUT/webgpu-native.log") 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
source "$(dirname "$0")/common.sh"
gpu_setup
for deb in .carry/*.deb; do dpkg -x "$deb" /; done
ldconfig
# NVIDIA's driver manifest: the container keeps it with the driver under /usr/local/nvidia
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for manifest in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$manifest" ] && export VK_DRIVER_FILES=$manifest && break
  done
fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
# a manifest is not a driver: say whether the library it names loads (a container started without
# NVIDIA's `graphics` capability has the manifest but not the library), and let the loader say why
# it rejects a driver
if [ -n "${VK_DRIVER_FILES:-}" ]; then
  python3 - "$VK_DRIVER_FILES" <<'PY'
import ctypes, json, sys
library = json.load(open(sys.argv[1]))["ICD"]["library_path"]
try:
    ctypes.CDLL(library)
    print(f"Vulkan driver {library}: loads")
except OSError as e:
    print(f"Vulkan driver {library}: does not load ({e})")
PY
fi
export VK_LOADER_DEBUG=${VK_LOADER_DEBUG:-error,warn}
for adapters in "" weights/hypernoise.safetensors weights/hypernoise-coarse.safetensors weights/hypernoise-light.safetensors; do
  name=$(basename "${adapters:-base}" .safetensors)
  "$T" --device wgpu bench --batches 1,256 --iters 20 ${adapters:+--adapters "$adapters"} --json "$OUT/wgpu-$name.json"
done
