#!/usr/bin/env bash
# How the shipped generator was trained, on one GPU machine with no Rust toolchain: the
# trainer is built elsewhere (scripts/gpu/build-trainer.sh) and carried in as .carry/trainer.
#   scripts/gpu/generator.sh teacher        # ~9 min: throughput probe, teacher, teacher eval
#   scripts/gpu/generator.sh student        # ~9 min: teacher pairs, one-step student, eval, bench
# Results go to $OUT (default ./out). The teacher phase sizes its run to a time budget from a
# short probe, so the exact step count is in the log it writes.
set -uo pipefail
PHASE=${1:?teacher or student}
T=${TRAINER:-.carry/trainer}
OUT=${OUT:-out}
mkdir -p "$OUT" runs
LOG="$OUT/$PHASE.log"
exec > >(tee -a "$LOG") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
run() { echo "+ $(date +%T) $*"; "$@"; }
# kernel cache and autotune level for a fresh machine (see cubecl.toml)
cp "$(dirname "$0")/cubecl.toml" .

case "$PHASE" in
teacher)
  run timeout "${PROBE_SECONDS:-240}" "$T" --device cuda teach --out /tmp/probe --steps 40 --warmup 10 --batch 128 --log-every 1 --sample-steps 1 || exit 1
  BUDGET_S=${TEACH_SECONDS:-380}
  # steps/s over the probe's second half (its first steps compile kernels)
  STEPS=$(python3 -c "
import csv; r = list(csv.DictReader(open('/tmp/probe/loss.csv')))[20:]
rate = (int(r[-1]['step']) - int(r[0]['step'])) / (float(r[-1]['seconds']) - float(r[0]['seconds']))
print(max(500, min(30000, int(rate * $BUDGET_S) // 100 * 100)))")
  echo "teacher: ${STEPS} steps fit ${BUDGET_S}s"
  run "$T" --device cuda teach --out runs/teacher --steps "$STEPS" --batch 128 --max-minutes "${TEACH_MAX_MINUTES:-8}"
  cp runs/teacher/{teacher.safetensors,loss.csv,loss.png,samples.png} "$OUT/"
  run timeout "${EVAL_SECONDS:-120}" "$T" --device cuda evaluate --weights runs/teacher/teacher.safetensors --sampler flow --steps 25 --guidance 3 --json "$OUT/teacher-eval.json"
  ;;
student)
  PAIRS=${PAIRS:-32768}
  STEPS=${STUDENT_STEPS:-4000}
  run "$T" --device cuda distill --teacher .carry/teacher.safetensors --out runs/student --pairs "$PAIRS" --ode-steps "${ODE_STEPS:-25}" --steps "$STEPS" --batch 128 --max-minutes 7
  cp runs/student/{generator.safetensors,loss.csv,loss.png,samples.png} "$OUT/"
  run "$T" --device cuda evaluate --weights runs/student/generator.safetensors --json "$OUT/student-eval.json"
  run "$T" --device cuda bench --weights runs/student/generator.safetensors --batches 1,256,1024 --iters 20 --json "$OUT/student-bench.json"
  ;;
esac
