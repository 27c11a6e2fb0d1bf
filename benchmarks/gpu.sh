#!/usr/bin/env bash
# The GPU checks in one command, within 8 minutes: the speed benchmark (AWA2 and CUB shapes,
# modgen vs the reference), the CUDA tests (pytest -m cuda), the final-classifier stage at SUN
# shapes, trainer.compile on the GPU, and the accuracy benchmark on digits. Results go to $OUT.
#
# Usage (from the repository root, torch with CUDA installed):
#     bash benchmarks/gpu.sh [XLSA17_DIR]
# XLSA17_DIR holds <DS>/att_splits.mat (and CUB/sent_splits.mat) for the semi-synthetic data of
# the paper's shapes; default .device_data/xlsa17 (ignored by git, so it can be carried to a
# machine without /work/shared):
#     mkdir -p .device_data/xlsa17 && cp -r ../shared/data/xlsa17/{AWA2,CUB} .device_data/xlsa17/
# Without it the benchmark falls back to synthetic class semantics of the same shapes.
#
# Writes (at most 8 files, as the device tool brings back): gpu.log (everything printed, with
# nvidia-smi), speed-cuda.json/.md, speed-cuda-classifier.json/.md, speed-cuda-compile.json/.md,
# accuracy-digits.json. Each step has its own time limit; a step that runs out keeps what the
# steps before it wrote (the speed benchmark writes its JSON after every data set).
set -uo pipefail

XLSA17=${1:-.device_data/xlsa17}
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONPATH=${PYTHONPATH:-.} PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PY=${PYTHON:-$(command -v python3 || command -v python)}
LOG="$OUT/gpu.log"
: >"$LOG"
start=$(date +%s)

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log it, never stop the script
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit}s, at $(($(date +%s) - start))s): $*" | tee -a "$LOG"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc after $(($(date +%s) - start))s" | tee -a "$LOG"
}

{
  echo "modgen gpu checks, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi 2>&1 || echo "nvidia-smi not found"
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
  if [ -f "$XLSA17/AWA2/att_splits.mat" ]; then echo "xlsa17 split files: $XLSA17"; else echo "no $XLSA17/AWA2/att_splits.mat: synthetic class semantics"; fi
} 2>&1 | tee -a "$LOG"

# most important first: a step that runs out of time leaves the ones before it intact
step "speed benchmark" 150 "$PY" benchmarks/speed.py --device cuda --xlsa17 "$XLSA17" \
  --episodes 30 --ref-episodes 5 --warmup 3 --variants batch,task --no-classifier --json "$OUT/speed-cuda.json"
step "pytest -m cuda" 120 "$PY" -m pytest -m cuda -q -p no:cacheprovider
step "final classifier" 90 "$PY" benchmarks/speed.py --device cuda --only-classifier \
  --clf-per-class 300 --svc-per-class 3 --clf-tol default,1e-7 --json "$OUT/speed-cuda-classifier.json"
step "trainer.compile" 60 "$PY" benchmarks/speed.py --device cuda --xlsa17 "$XLSA17" \
  --datasets AWA2 --episodes 30 --warmup 3 --variants batch,batch+compile --no-reference --no-classifier \
  --json "$OUT/speed-cuda-compile.json"
step "accuracy benchmark" 30 "$PY" benchmarks/accuracy.py --device cuda --datasets digits \
  --recipes amaz,zsml,clswgan --seeds 1 --no-doc --json-dir "$OUT"

echo "done in $(($(date +%s) - start))s; results in $OUT" | tee -a "$LOG"
