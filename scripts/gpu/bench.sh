#!/usr/bin/env bash
# The speed measurements of BENCHMARKS.md in one call on a GPU machine (two GPUs for the scaling phase):
# every phase writes runs/bench/*.json, packed into $OUT/bench.tgz.
#   scripts/gpu/bench.sh check    # the PyTorch twin's outputs on the GPU against Rust's (< 1e-3)
#   scripts/gpu/bench.sh rust     # trainer fit steps/s (batch 64 and 128) and generation images/s
#   scripts/gpu/bench.sh torch    # the twin: fit steps/s and generation, eager and compiled; matmul ceiling
#   scripts/gpu/bench.sh busy     # how busy the GPU is while fit trains (nvidia-smi), Rust and the eager twin
#   scripts/gpu/bench.sh norm     # the eager twin with GroupNorm op by op as burn computes it, against torch's kernels
#   scripts/gpu/bench.sh one      # fit at batch 128 on one GPU alone (scale's reference; `rust` runs it too)
#   scripts/gpu/bench.sh scale    # fit --devices 2 against --devices 1: speed-up at batch 128 and 256, weights
#   scripts/gpu/bench.sh profile  # GPU time per kernel of a fit step at batch 64, Rust and the eager twin
#   scripts/gpu/bench.sh turns    # fit at batch 64 with each trainer of TURNS (compressed, as .carry/trainer.xz),
#                                 # ROUNDS (default 2) times in turns: a change against the build before it
# Single-GPU phases run on GPU 0. SIDE="command" runs alongside on the last GPU (its log:
# runs/side.log), e.g. training that should not wait for the benchmarks; `scale` waits for it;
# SIDE_PACK="paths under runs/" come back with its log in $OUT/side.tgz.
# Phases end by CALL_SECONDS (default 540) after the start.
set -uo pipefail
OUT=${OUT:-out}
DEADLINE=$(( $(date +%s) + ${CALL_SECONDS:-540} ))
bounded() { timeout -k 10 $(( DEADLINE - $(date +%s) )) "$@"; }
mkdir -p "$OUT" runs/bench
exec > >(tee -a "$OUT/bench.log") 2>&1
nvidia-smi -L
GPUS=$(nvidia-smi -L | wc -l)
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
source "$(dirname "$0")/common.sh"
gpu_setup || exit 1
export PYTHONPATH=bench/torch
STEPS=${STEPS:-60}   # timed fit steps: the rate is taken from step 20 on (after compilation and autotuning)

side=
if [ -n "${SIDE:-}" ]; then
  echo "+ side job on GPU $((GPUS - 1)): $SIDE"
  CUDA_VISIBLE_DEVICES=$((GPUS - 1)) T="$T" bounded bash -c "$SIDE" > runs/side.log 2>&1 &
  side=$!
fi

# fit's steps/s on CUDA_VISIBLE_DEVICES=$1 with --devices $2 --batch $3, as runs/bench/fit-$4.json
fit_rate() {
  local dir=runs/bench-fit-$4
  rm -rf "$dir"
  echo "+ $(date +%T) $(basename "$T") fit --devices $2 --batch $3 on GPUs $1"
  CUDA_VISIBLE_DEVICES=$1 bounded "$T" --device "$GPU" fit --out "$dir" --devices "$2" --batch "$3" --steps "$STEPS" --log-every 10 \
    --checkpoint-every 100000 --val-every-item 100000 > "$dir.log" 2>&1 || { tail -5 "$dir.log"; return 1; }
  python3 - "$dir" "$2" "$3" "$CARD" > "runs/bench/fit-$4.json" <<'EOF'
import csv, json, sys
d, devices, batch, card = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = [r for r in csv.DictReader(open(f"{d}/loss.csv"))]
a, b = next(r for r in rows if int(r["step"]) == 20), rows[-1]
steps = int(b["step"]) - int(a["step"])
rate = steps / (float(b["seconds"]) - float(a["seconds"]))
print(json.dumps({"what": "trainer fit", "card": card, "devices": devices, "batch": batch, "timed_steps": steps,
                  "steps_per_second": rate, "images_per_second": rate * batch}, indent=2))
EOF
  cat "runs/bench/fit-$4.json"
}

# nvidia-smi's utilization (the share of each 200 ms sample in which a kernel ran) while the
# command after $1 runs: the median over its active span (the first to the last sample at 20% or
# more, which leaves out start-up and loading), as $1
busy_during() {
  local json=$1 samples=runs/bench/.busy.csv sampler
  shift
  nvidia-smi -i 0 --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 200 > "$samples" &
  sampler=$!
  CUDA_VISIBLE_DEVICES=0 bounded "$@" > "$json.log" 2>&1 || tail -5 "$json.log"
  kill "$sampler"
  python3 - "$samples" "$*" "$CARD" > "$json" <<'EOF'
import json, statistics, sys
busy = [int(v) for v in open(sys.argv[1]).read().split() if v.isdigit()]
active = [i for i, v in enumerate(busy) if v >= 20]
span = busy[active[0] : active[-1] + 1] if active else []
print(json.dumps({"what": "GPU utilization (nvidia-smi, 200 ms samples)", "command": sys.argv[2], "card": sys.argv[3],
                  "active_samples": len(span), "median_busy_percent": statistics.median(span) if span else None}, indent=2))
EOF
  cat "$json"
}

for PHASE in "$@"; do
case "$PHASE" in
check)
  "$T" --device cpu export-reference --out runs/ref --batch 8 --seed 3 && \
  CUDA_VISIBLE_DEVICES=0 bounded python3 bench/torch/check.py --reference runs/ref/reference.safetensors --device cuda | tee runs/bench/check-cuda.txt
  ;;
rust)
  fit_rate 0 1 64 1gpu-b64
  ;&
one)
  fit_rate 0 1 128 1gpu-b128
  [ "$PHASE" = one ] && continue
  CUDA_VISIBLE_DEVICES=0 bounded "$T" --device "$GPU" bench --batches 1,256 --iters 30 --json runs/bench/generation-rust.json
  ;;
torch)
  CUDA_VISIBLE_DEVICES=0 bounded python3 bench/torch/bench.py --out runs/bench/torch.json --batch 64
  ;;
busy)
  busy_during runs/bench/busy-rust.json "$T" --device "$GPU" fit --out runs/bench-busy --batch 64 --steps 150 \
    --log-every 10 --checkpoint-every 100000 --val-every-item 100000
  busy_during runs/bench/busy-torch.json python3 bench/torch/bench.py --out runs/bench/torch-busy.json --batch 64 \
    --gen-batches 1 --modes eager --iters 100
  ;;
norm)
  for norm in fused composed; do
    CUDA_VISIBLE_DEVICES=0 bounded python3 bench/torch/bench.py --out "runs/bench/torch-norm-$norm.json" --batch 64 \
      --gen-batches 256 --modes eager --iters 40 --group-norm "$norm"
  done
  ;;
profile)
  # every launch waits for its kernel while profiled: per-kernel GPU times, not a speed. The same
  # run at 10 and at 20 steps: their difference is 10 training steps alone (both validate and
  # draw images at their start and end). An unprofiled run first: the first run of a shape also
  # times autotuning's candidate kernels (before it, the 10-step run took more GPU time than the 20)
  fit_rate 0 1 64 1gpu-b64
  for n in 10 20; do
    rm -rf runs/bench-profile runs/cubecl-profile.log
    CUBECL_DEBUG_OPTION=profile CUDA_VISIBLE_DEVICES=0 bounded "$T" --device "$GPU" fit --out runs/bench-profile --batch 64 --steps $n \
      --log-every 1 --checkpoint-every 100000 --val-every-item 100000 > runs/bench-profile.log 2>&1 || tail -5 runs/bench-profile.log
    mv runs/cubecl-profile.log "runs/cubecl-profile-$n.log"
  done
  python3 bench/kernel_profile.py runs/cubecl-profile-20.log --baseline runs/cubecl-profile-10.log --steps 10 | tee runs/bench/profile-rust.txt
  CUDA_VISIBLE_DEVICES=0 bounded python3 bench/torch/bench.py --out runs/bench/torch-profiled.json --batch 64 --gen-batches 1 --modes eager \
    --iters 10 --profile runs/bench/profile-torch.txt && head -25 runs/bench/profile-torch.txt
  ;;
turns)
  for round in $(seq "${ROUNDS:-2}"); do
    for xz in ${TURNS:?TURNS="A.xz B.xz": the compressed trainers to time in turns}; do
      # unpacked once per call beside $T (this script's own path), never reused from an
      # earlier call on a warm machine, whose trainer of the same name may be another build
      name=$(basename "$xz" .xz)
      bin="$T-turn-$name"
      [ -x "$bin" ] || unpack_trainer "$xz" "$bin" || exit 1
      T="$bin" fit_rate 0 1 64 "turn-$name-$round"
    done
  done
  ;;
scale)
  [ -n "$side" ] && { echo "+ $(date +%T) waiting for the side job"; wait "$side"; side=; }
  if [ "$GPUS" -lt 2 ]; then echo "scale needs two GPUs ($GPUS here)"; continue; fi
  fit_rate 0,1 2 128 2gpu-b128
  [ -f runs/bench/fit-1gpu-b128.json ] || fit_rate 0 1 128 1gpu-b128
  # the same 128 images per GPU as the one-GPU run (weak scaling, as data-parallel runs are used)
  fit_rate 0,1 2 256 2gpu-b256
  python3 - <<'EOF' | tee runs/bench/speedup.txt
import json
r = {k: json.load(open(f"runs/bench/fit-{k}.json"))["images_per_second"] for k in ("1gpu-b128", "2gpu-b128", "2gpu-b256")}
print(f"two GPUs against one (images/s): batch 128 split {r['2gpu-b128'] / r['1gpu-b128']:.2f}x, batch 256 (128 per GPU) {r['2gpu-b256'] / r['1gpu-b128']:.2f}x")
EOF
  # same seed and steps on one and on two GPUs: the adapters must agree up to float rounding
  python3 - <<'EOF' | tee runs/bench/scale.txt
from hypernoise_torch import read_safetensors
a, _ = read_safetensors("runs/bench-fit-1gpu-b128/checkpoint/weights.safetensors")
b, _ = read_safetensors("runs/bench-fit-2gpu-b128/checkpoint/weights.safetensors")
up = [k for k in a if k.endswith("lora.up")]
num = sum(float((a[k] - b[k]).square().sum()) for k in up)
den = sum(float(a[k].square().sum()) for k in up)
print(f"adapters after the same steps on 1 and 2 GPUs: relative L2 difference {(num / den) ** 0.5:.2e} over {len(up)} up-projections")
EOF
  ;;
esac
done
[ -n "$side" ] && wait "$side"
cp runs/bench-*.log runs/bench/ 2>/dev/null
tar czf "$OUT/bench.tgz" runs/bench
# shellcheck disable=SC2086
[ -n "${SIDE:-}" ] && tar czf "$OUT/side.tgz" runs/side.log ${SIDE_PACK:-}
[ "${PACK_CACHE:-1}" = 1 ] && pack_cache "$OUT"
ls -la "$OUT"
