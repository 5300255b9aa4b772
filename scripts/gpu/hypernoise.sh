#!/usr/bin/env bash
# The exact commands that train the shipped noise hypernetwork and fine-tuning baseline on a GPU
# machine without a Rust toolchain, and fill the paper's table; see scripts/gpu/generator.sh for
# how calls are shaped (trainer.xz and the kernel cache in .carry/, results packed into $OUT).
#   scripts/gpu/hypernoise.sh train   # runs side by side (RUNS below), MINUTES each
#   scripts/gpu/hypernoise.sh select  # picks among the runs/ an earlier call left on a warm machine
#   scripts/gpu/hypernoise.sh eval    # trainer eval on the evaluation prompts (EVERY-th item)
#   scripts/gpu/hypernoise.sh check   # trainer check-device: this GPU's passes and gradients against
#                                     # the CPU's; the script stops (exit 1) if they differ beyond rounding
#   scripts/gpu/hypernoise.sh rewards # candidate rewards (REWARDS), then what ReNO and best-of-50 make of
#                                     # each and of the shipped one on the validation prompts (every
#                                     # VAL_EVERY-th item, default all 624)
# Phases chain (`select eval`) and all end by CALL_SECONDS (default 540) after the start.
# Runs (and rewards) are spread over the GPUs round-robin: GPU_IDS="0 1" (by default all of them).
# COMMON holds the flags every run shares (batch, steps, checkpoint and log intervals; default
# below). Runs are named NAME:COMMAND:ARGS; the hypernetwork run with the best validation score (never
# the evaluation set) becomes weights/hypernoise.safetensors, `finetune` weights/finetune.safetensors.
# Measured (H200, 2026-11-27): on a machine whose kernel cache lacks the LoRA kernels, six runs
# started together spent ~410 s compiling before their first step, two runs ~450 s, and an eval
# call ~400 s; with the cache of an earlier session's fit call carried (made on an H100, also
# sm_90), the whole five-method eval call took 277 s on a fresh H200. Warm the cache with one
# run in a first call (RUNS="fit-paper:fit:--lr 1e-3"), carrying .carry/ (the cache comes back
# as cubecl-cache.tgz.part-* in $OUT; put the parts in .carry/ for the next fresh machine; a warm
# one keeps its own: see common.sh), before running several side by side. PACK_CACHE=0 leaves
# packing the cache to the caller.
set -uo pipefail
OUT=${OUT:-out}
MINUTES=${MINUTES:-6}
# every phase ends by this deadline (seconds from now), leaving time to pack results under a
# 10-minute call; -k: a process still busy in the driver after SIGTERM gets SIGKILL
DEADLINE=$(( $(date +%s) + ${CALL_SECONDS:-540} ))
bounded() { timeout -k 10 $(( DEADLINE - $(date +%s) )) "$@"; }
mkdir -p "$OUT" runs
exec > >(tee -a "$OUT/gpu.log") 2>&1
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
echo "$CARD"
source "$(dirname "$0")/common.sh"
gpu_setup || exit 1
RUNS=${RUNS:-"fit-paper:fit:--lr 1e-3 --reg-weight 1
fit-lr1e-2:fit:--lr 1e-2 --reg-weight 1
fit-lr1e-2-lam0.1:fit:--lr 1e-2 --reg-weight 0.1
finetune:finetune:--lr 1e-2
red-fit:fit:--lr 1e-2 --reg-weight 1 --reward redness
red-finetune:finetune:--lr 1e-2 --reward redness"}
COMMON=${COMMON:-"--batch 64 --steps 100000 --checkpoint-every 100 --log-every 50"}
read -ra gpus <<< "${GPU_IDS:-$(seq -s ' ' 0 $(( $(nvidia-smi -L | wc -l) - 1 )))}"
[ ${#gpus[@]} -gt 0 ] || { echo "no GPU: GPU_IDS='${GPU_IDS:-}', nvidia-smi lists none" >&2; exit 1; }
# the GPU for the $1-th job
gpu() { echo "${gpus[$1 % ${#gpus[@]}]}"; }

[ $# -gt 0 ] || { echo "usage: $0 train|select|eval|check|rewards ..." >&2; exit 2; }
for PHASE in "$@"; do
case "$PHASE" in
train)
  pids=()
  while IFS=: read -r name cmd args; do
    [ -n "$name" ] || continue
    echo "+ GPU $(gpu ${#pids[@]}): $cmd --out runs/$name $args $COMMON --max-minutes $MINUTES"
    # shellcheck disable=SC2086
    # --max-minutes counts from the first step; the deadline bounds the kernel compilation before it
    CUDA_VISIBLE_DEVICES=$(gpu ${#pids[@]}) bounded "$T" --device "$GPU" "$cmd" --out "runs/$name" $args $COMMON --max-minutes "$MINUTES" > "runs/$name.log" 2>&1 &
    pids+=($!)
  done <<< "$RUNS"
  # the trainers only: a bare `wait` would also wait for the log's tee, which never ends
  wait "${pids[@]}"
  ;&
select)
  # (also on its own: picks among the runs/ a previous call left on a still-warm machine)
  for f in runs/*.log; do echo "== $f"; grep -v '^\s*$' "$f" | tail -4; done
  best=$(for d in runs/fit-*/; do python3 -c "import json,sys; m=json.load(open('$d/metrics.json')); print(max(x['val_score'] for x in m), '$d')" 2>/dev/null; done | sort -rn | head -1 | cut -d' ' -f2)
  echo "best hypernetwork on validation: $best"
  mkdir -p "$OUT/weights"
  # the selected adapters become the working tree's weights (for an eval phase) and come back
  # ($OUT holds at most 8 files: results, the log, the run logs, the weights, the cache's parts)
  [ -n "$best" ] && cp "$best/best.safetensors" weights/hypernoise.safetensors && cp weights/hypernoise.safetensors "$OUT/weights/"
  [ -f runs/finetune/best.safetensors ] && cp runs/finetune/best.safetensors weights/finetune.safetensors && cp weights/finetune.safetensors "$OUT/weights/"
  tar czf "$OUT/runs.tgz" runs/*.log runs/*/metrics.json runs/*/curves.png runs/*/compare.png runs/*/loss.csv 2>/dev/null
  ;;
rewards)
  # NAME:ARGS per line, side by side, spread over the GPUs; a reward that ReNO cannot hack is one
  # whose gradient ascent raises the exact evaluator: compared on validation prompts only
  pids=()
  while IFS=: read -r name args; do
    [ -n "$name" ] || continue
    echo "+ GPU $(gpu ${#pids[@]}): reward --out runs/$name $args"
    # shellcheck disable=SC2086
    CUDA_VISIBLE_DEVICES=$(gpu ${#pids[@]}) bounded "$T" --device "$GPU" reward --out "runs/$name" $args --batch 128 --log-every 100 --checkpoint-every 500 > "runs/$name.log" 2>&1 &
    pids+=($!)
  done <<< "${REWARDS:?NAME:ARGS per line}"
  wait "${pids[@]}"
  mkdir -p runs/rewards
  for f in weights/reward.safetensors runs/*/reward.safetensors; do
    name=$(basename "$(dirname "$f")"); [ "$name" = weights ] && name=shipped
    [ "$name" != shipped ] && cp "$f" "runs/rewards/$name.safetensors" && cp "runs/$name/accuracy.json" "runs/rewards/$name-accuracy.json"
    echo "== $name: $(cat "runs/$name/accuracy.json" 2>/dev/null | tr -d '\n ')"
    CUDA_VISIBLE_DEVICES=$(gpu 0) bounded "$T" --device "$GPU" eval --split val --every "${VAL_EVERY:-1}" --methods base,best-of-n,reno --reward "$f" --card "$CARD" --out "runs/rewards/val-$name" \
      2>&1 | grep -v '^\s*$' | tail -8
  done
  # f32 weights barely compress: pieces under $OUT's 16 MiB a file (cat rewards.tgz.part-* | tar xz)
  tar czf - runs/rewards runs/*.log runs/*/loss.png | split -b 15M - "$OUT/rewards.tgz.part-"
  ;;
check)
  CUDA_VISIBLE_DEVICES=$(gpu 0) bounded "$T" --device "$GPU" check-device 2>&1 | tee "$OUT/check-device.txt" || exit 1
  ;;
eval)
  # shellcheck disable=SC2086
  CUDA_VISIBLE_DEVICES=$(gpu 0) bounded "$T" --device "$GPU" eval --every "${EVERY:-1}" --card "$CARD" --out "$OUT/results" ${EVAL_ARGS:-}
  ;;
esac
done
[ "${PACK_CACHE:-1}" = 1 ] && pack_cache "$OUT"
ls -la "$OUT" "$OUT"/*/
