#!/usr/bin/env bash
# The exact commands that train the generator on a GPU machine without a Rust toolchain, in
# calls of at most 10 minutes. Each call trains until its time budget and packs its weights and
# the compiled-kernel cache into $OUT. A call on the same warm machine resumes the run from its
# checkpoint in runs/; a fresh machine has lost it, so every call also returns the checkpoint's
# weights, which the next one continues from with --init (a new optimizer and schedule).
#   scripts/gpu/generator.sh teacher   # flow-matching teacher, 3,000 steps (resumable)
#   scripts/gpu/generator.sh student   # one-step student from $TEACHER (resumable)
#   scripts/gpu/generator.sh eval      # teacher and student on the evaluation set, and a benchmark
#   scripts/gpu/generator.sh teacher eval   # train, then score the teacher where the call left it
#   scripts/gpu/generator.sh teacher student   # phases in turn, sharing one call's time budget
# .carry/ holds trainer.xz (scripts/gpu/build-trainer.sh), and optionally the kernel cache (see
# common.sh) and teacher.safetensors. TEACHER names the teacher the student and eval phases read
# (default .carry/teacher.safetensors; weights/teacher.safetensors spares carrying a second copy,
# runs/teacher/teacher.safetensors reads one a call before trained on the same warm machine,
# since each call's .carry replaces the last one's).
# STUDENT_RUN names the student's run folder (runs/$STUDENT_RUN, default student), so that two
# students can train side by side, each script with its own OUT:
#   STUDENT_RUN=plain OUT=$OUT/plain ... scripts/gpu/generator.sh student eval &
#   STUDENT_RUN=correct OUT=$OUT/correct STUDENT_ARGS="--only-correct" ... scripts/gpu/generator.sh student eval
# PACK_CACHE=0 leaves packing the cache to the caller (when other trainers share the call).
set -uo pipefail
[ $# -gt 0 ] || { echo "usage: $0 teacher|student|eval ..." >&2; exit 2; }
OUT=${OUT:-out}
MINUTES=${MINUTES:-7}   # the training time of the whole call, shared by its phases in order
TEACHER=${TEACHER:-.carry/teacher.safetensors}
STUDENT_RUN=${STUDENT_RUN:-student}
STUDENT=.carry/generator.safetensors   # the student the eval phase scores
DEADLINE=$(awk "BEGIN { printf \"%d\", $(date +%s) + $MINUTES * 60 }")
mkdir -p "$OUT" runs
exec > >(tee -a "$OUT/gpu.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# every command ends by the deadline (plus a little for its checkpoint), so packing always runs
run() { echo "+ $(date +%T) $*"; timeout $(( DEADLINE + 20 - $(date +%s) )) "$@"; }

source "$(dirname "$0")/common.sh"
gpu_setup || exit 1
left() { awk "BEGIN { printf \"%.1f\", ($DEADLINE - $(date +%s)) / 60 - ${1:-0} }"; }   # minutes, less a reserve

# $OUT takes at most 8 files of 16 MiB: the weights of finished phases, the checkpoint weights of
# an unfinished one (split), the kernel cache, and one archive of curves and sample grids. A whole
# checkpoint (the optimizer's state too: 54 MB for the teacher) could not travel back: the
# repository's own files fill 55 of the 64 MiB a call carries.
pack() {   # $1: the run folder in runs/, $2: its final weights file (as $2.part-*: cat them), else the checkpoint's as $1-checkpoint.safetensors.part-*
  if [ -f "runs/$1/$2" ]; then split -b 15M "runs/$1/$2" "$OUT/$2.part-"
  elif [ -f "runs/$1/checkpoint/weights.safetensors" ]; then split -b 15M "runs/$1/checkpoint/weights.safetensors" "$OUT/$1-checkpoint.safetensors.part-"; fi
}

for PHASE in "$@"; do
  case "$PHASE" in
  teacher)
    # minutes kept for packing, and for scoring the teacher when an eval phase follows
    reserve=0.3
    [[ " $* " == *" eval "* ]] && reserve=1.2
    # TEACHER_ARGS: e.g. "--init weights/teacher.safetensors" continues a teacher with a new schedule
    # shellcheck disable=SC2086
    run "$T" --device "$GPU" teach --out runs/teacher --steps "${TEACHER_STEPS:-6000}" --batch "${TEACHER_BATCH:-128}" --log-every 25 --checkpoint-every 250 --max-minutes "$(left "$reserve")" ${TEACHER_ARGS:-}
    pack teacher teacher.safetensors
    # a finished teacher is what the student and eval phases read next
    [ -f runs/teacher/teacher.safetensors ] && cp runs/teacher/teacher.safetensors .carry/
    ;;
  reward)
    run "$T" --device "$GPU" reward --out runs/reward --steps 4000 --batch 128 --log-every 50 --checkpoint-every 500 --max-minutes "$(left 1.5)"
    pack reward reward.safetensors
    ;;
  student)
    # pairs are remade by every call (about PAIRS * 2 * ODE_STEPS teacher evaluations, ~2
    # minutes; more with --only-correct, which judges them and makes more), before the training
    # clock starts: STUDENT_RESERVE minutes are kept for them, the eval phase and packing
    [ -f "$TEACHER" ] || { echo "student: no teacher at $TEACHER (set TEACHER)"; break; }
    # STUDENT_ARGS: e.g. "--init .carry/generator.safetensors --seed 2" continues a student on new pairs
    # shellcheck disable=SC2086
    run "$T" --device "$GPU" distill --teacher "$TEACHER" --out "runs/$STUDENT_RUN" --pairs "${PAIRS:-8192}" \
      --ode-steps "${ODE_STEPS:-12}" --steps "${STUDENT_STEPS:-1600}" --batch 128 --log-every 25 --checkpoint-every 250 \
      --max-minutes "$(left "${STUDENT_RESERVE:-2.5}")" ${STUDENT_ARGS:-}
    pack "$STUDENT_RUN" generator.safetensors
    # the eval phase scores this student, at its checkpoint if the call ended before its last step
    for w in "runs/$STUDENT_RUN/generator.safetensors" "runs/$STUDENT_RUN/checkpoint/weights.safetensors"; do
      [ -f "$w" ] && { STUDENT=$w; break; }
    done
    ;;
  eval)   # the teacher (unless EVAL_TEACHER=0), and the student this call trained, else .carry/'s (BENCH=0: no benchmark)
    mkdir -p runs/eval
    teacher=$TEACHER
    # a teacher run still under way (`teacher eval` in a call that ends before its last step) is
    # scored at its checkpoint, so every call reports where the run stands (~20 s on an H200)
    [ -f runs/teacher/checkpoint/weights.safetensors ] && [ ! -f runs/teacher/teacher.safetensors ] && teacher=runs/teacher/checkpoint/weights.safetensors
    # at the step times the shipped teacher was trained for (`teach --time-shift 3`); EVAL_SHIFT=1
    # scores a teacher trained at evenly spaced times
    [ -f "$teacher" ] && [ "${EVAL_TEACHER:-1}" = 1 ] && run "$T" --device "$GPU" evaluate --weights "$teacher" --sampler flow --steps 25 --guidance 3 --shift "${EVAL_SHIFT:-3}" --json runs/eval/teacher-eval.json
    [ -f "$STUDENT" ] && run "$T" --device "$GPU" evaluate --weights "$STUDENT" --json "runs/eval/$STUDENT_RUN-eval.json" \
      && [ "${BENCH:-1}" = 1 ] && run "$T" --device "$GPU" bench --weights "$STUDENT" --batches 1,256,1024 --iters 20 --json "runs/eval/$STUDENT_RUN-bench.json"
    ;;
  esac
done
[ "${PACK_CACHE:-1}" = 1 ] && pack_cache "$OUT"
tar czf "$OUT/extras.tgz" $(cd runs && ls -d */loss.csv */loss.png */samples.png */accuracy.json eval 2>/dev/null | sed 's|^|runs/|')
ls -la "$OUT"
