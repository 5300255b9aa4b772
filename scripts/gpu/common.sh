# Sourced by the scripts/gpu/*.sh phase scripts: the trainer and the kernel cache on a GPU
# machine without a Rust toolchain.
# The compiled-kernel cache lives in runs/cubecl-cache (cubecl.toml): runs/ is ignored by git, so
# it is never carried and stays on a warm machine between calls. A fresh machine restores it from
# .carry/ (cubecl-cache.tgz, or its .part-* pieces once over 16 MiB), which a `pack_cache` of an
# earlier call left in $OUT, or its xz repacking, a third the size, for the carry limit (made
# here, since the GPU machine may lack xz:
#   cat P/cubecl-cache.tgz.part-* | gunzip | xz -6 -T2 > .carry/cubecl-cache.txz).
# A path named in `carry` is replaced on the device, and one carried before but not named again
# is removed there: the cache's home in runs/ is immune to both.
T=/tmp/trainer-$$   # one copy per script: several may run side by side
# The trainer's GPU backend: torch (LibTorch, the default build) or cuda (burn-cuda, built with
# `scripts/gpu/build-trainer.sh cuda`)
GPU=${GPU:-torch}
# LibTorch's matmuls in TF32, as its convolutions are by default (PyTorch's own default for
# matmuls is full f32)
export TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1
# Unpacks the compressed trainer $1 as the executable $2.
unpack_trainer() {
  # the machine may lack xz(1); Python's lzma reads it
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2" && chmod +x "$2"
}
gpu_setup() {
  mkdir -p runs
  unpack_trainer .carry/trainer.xz "$T" || return 1
  cp "$(dirname "${BASH_SOURCE[0]}")/cubecl.toml" .
  # the LibTorch trainer loads PyTorch's libraries at run time: the machine's own PyTorch
  local torch_lib
  torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null) \
    && export LD_LIBRARY_PATH=$torch_lib:${LD_LIBRARY_PATH:-}
  # `fit --devices N` loads NCCL at run time as libnccl.so: should the system lack it, PyTorch's
  # nvidia-nccl wheel has it as libnccl.so.2
  local nccl
  nccl=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null)
  if [ -f "$nccl/libnccl.so.2" ]; then
    mkdir -p runs/nccl && ln -sf "$nccl/libnccl.so.2" runs/nccl/libnccl.so && export LD_LIBRARY_PATH=$PWD/runs/nccl:${LD_LIBRARY_PATH:-}
  fi
  [ -d runs/cubecl-cache ] && return 0
  # unpacked aside, then renamed: a script started alongside never sees half a cache
  local tmp=runs/.unpack-$$
  mkdir -p "$tmp"
  if compgen -G ".carry/cubecl-cache.tgz.part-*" >/dev/null; then cat .carry/cubecl-cache.tgz.part-* | tar xzf - -C "$tmp"
  elif [ -f .carry/cubecl-cache.tgz ]; then tar xzf .carry/cubecl-cache.tgz -C "$tmp"
  elif [ -f .carry/cubecl-cache.txz ]; then python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2], filter="data")' .carry/cubecl-cache.txz "$tmp"; fi
  [ -d "$tmp/cubecl-cache" ] && mv -n "$tmp/cubecl-cache" runs/ 2>/dev/null
  rm -rf "$tmp"
}
# Packs the cache into $1 for the next fresh machine; call it once no trainer is running.
pack_cache() {
  [ -d runs/cubecl-cache ] && tar czf - -C runs cubecl-cache | split -b 15M - "$1/cubecl-cache.tgz.part-"
}
