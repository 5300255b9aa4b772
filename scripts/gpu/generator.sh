#!/usr/bin/env bash
# The exact commands that train the generator on a GPU machine without a Rust toolchain, in
# calls of at most 10 minutes. Each call restores what the previous call left (carried in
# .carry/), trains until its time budget, and packs its run folder and the compiled-kernel
# cache into $OUT for the next call, which resumes from the checkpoint.
#   scripts/gpu/generator.sh teacher   # flow-matching teacher, 3,000 steps (resumable)
#   scripts/gpu/generator.sh student   # one-step student from .carry/teacher.safetensors (resumable)
#   scripts/gpu/generator.sh eval      # teacher and student on the evaluation set, and a benchmark
# .carry/ holds trainer.gz (scripts/gpu/build-trainer.sh), and optionally cubecl-cache.tgz,
# teacher.safetensors and <phase>.tar.part-* from earlier calls' $OUT.
set -uo pipefail
PHASE=${1:?teacher, student or eval}
OUT=${OUT:-out}
MINUTES=${MINUTES:-7}
mkdir -p "$OUT" runs
exec > >(tee -a "$OUT/$PHASE.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
run() { echo "+ $(date +%T) $*"; "$@"; }

T=/tmp/trainer
gunzip -c .carry/trainer.gz > "$T" && chmod +x "$T" || exit 1
cp "$(dirname "$0")/cubecl.toml" .   # kernel cache in .carry/cubecl-cache, minimal autotuning
[ -f .carry/cubecl-cache.tgz ] && tar xzf .carry/cubecl-cache.tgz -C .carry
if compgen -G ".carry/$PHASE.tar.part-*" >/dev/null; then cat .carry/"$PHASE".tar.part-* | tar xf - -C runs; fi

pack() {   # the run folder's checkpoint (split under the 16 MiB file limit) and the kernel cache
  [ -d "runs/$PHASE/checkpoint" ] && tar cf - -C runs "$PHASE/checkpoint" | split -b 15M - "$OUT/$PHASE.tar.part-"
  [ -d .carry/cubecl-cache ] && tar czf "$OUT/cubecl-cache.tgz" -C .carry cubecl-cache
  cp runs/"$PHASE"/loss.png "$OUT/" 2>/dev/null
}

case "$PHASE" in
teacher)
  run "$T" --device cuda teach --out runs/teacher --steps 3000 --batch 128 --log-every 25 --checkpoint-every 250 --max-minutes "$MINUTES"
  [ -f runs/teacher/teacher.safetensors ] && cp runs/teacher/{teacher.safetensors,samples.png} "$OUT/"
  ;;
student)
  # pairs are remade by every call (about PAIRS * 2 * ODE_STEPS teacher evaluations), so keep
  # them within a minute or two of a 10-minute call
  run "$T" --device cuda distill --teacher .carry/teacher.safetensors --out runs/student --pairs "${PAIRS:-8192}" \
    --ode-steps "${ODE_STEPS:-12}" --steps 4000 --batch 128 --log-every 25 --checkpoint-every 250 --max-minutes "$MINUTES"
  [ -f runs/student/generator.safetensors ] && cp runs/student/{generator.safetensors,samples.png} "$OUT/"
  ;;
eval)
  run "$T" --device cuda evaluate --weights .carry/teacher.safetensors --sampler flow --steps 25 --guidance 3 --json "$OUT/teacher-eval.json"
  run "$T" --device cuda evaluate --weights .carry/generator.safetensors --json "$OUT/student-eval.json"
  run "$T" --device cuda bench --weights .carry/generator.safetensors --batches 1,256,1024 --iters 20 --json "$OUT/student-bench.json"
  ;;
esac
pack
ls -la "$OUT"
