#!/usr/bin/env bash
# The issue's INR acceptance point on a GPU in under half an hour: all 24 Kodak images at 768x512, COIN's
# "10x40" network (9 hidden layers x 40 here, 15003 parameters) at 8 bits (12 for biases and the first layer)
# with 300 QAT steps and entropy coding, which lands at about 0.3 bpp; JPEG at each file's rate. The fit uses
# the fast schedule (lr 1e-3 cosine-decayed over STEPS steps) instead of COIN's 50,000 steps at a constant
# 2e-4; see the README for why and for the CPU evidence.
#
#   ./experiments/kodak_rd/run_gpu_acceptance.sh          # all three chunks, then acceptance.md
#   ./experiments/kodak_rd/run_gpu_acceptance.sh 2        # one chunk of 8 images (one <10 min device call)
#   ./experiments/kodak_rd/run_gpu_acceptance.sh merge    # acceptance.md from the chunks already run
#   ./experiments/kodak_rd/run_gpu_acceptance.sh timing   # ~1 min: ms/step here, and the STEPS that keep one
#                                                         # chunk near 7 minutes (under the 10-minute device call)
#
# Environment: KODAK (images), REFERENCE (published curves), OUT (results folder), STEPS (fit steps per image),
# TRAINER (gpu; cpu for a smoke run), PYTHON (python3: runs the timing and merge steps),
# SIREN_INR (how to call the CLI: `siren-inr`, or `python -m siren_inr` where the package is only on PYTHONPATH).
# Extra arguments after the chunk go to `siren-inr rd` (e.g. qat_steps=500; TRAINER=fast for compiled TF32 fits).
set -euo pipefail
source "$(dirname "$0")/paths.sh"  # HERE, REPO (the working directory), KODAK, REFERENCE
OUT="${OUT:-experiments/kodak_rd/results_gpu_acceptance}"
STEPS="${STEPS:-5000}"
TRAINER="${TRAINER:-gpu}"
PY="${PYTHON:-python3}"
read -r -a CLI <<< "${SIREN_INR:-siren-inr}"
WHAT="${1:-all}"
shift || true

chunk_images() {  # chunk k of 3: kodim(8k-7) .. kodim(8k)
  local k="$1" first names=()
  first=$(( (k - 1) * 8 + 1 ))
  for i in $(seq "$first" $(( first + 7 ))); do names+=("$(printf 'kodim%02d.png' "$i")"); done
  local IFS=,
  echo "[${names[*]}]"
}

run_chunk() {
  local k="$1"; shift
  "${CLI[@]}" rd data.folder="$KODAK" "data.images=$(chunk_images "$k")" 'ladder=[[9,40]]' \
    num_epochs="$STEPS" optim.lr=1e-3 optim.lr_schedule=cosine optim.lr_min=1e-5 trainer="$TRAINER" \
    quant.bits=8 quant.sensitive_bits=12 qat_steps=300 'codecs=[jpeg]' \
    output_dir="$OUT/chunk$k/rd" reference_dir="$REFERENCE" experiment_name=kodak-rd-acceptance "$@"
}

merge() {
  local tables=()
  for k in 1 2 3; do [ -f "$OUT/chunk$k/rd/table.csv" ] && tables+=("$OUT/chunk$k/rd/table.csv"); done
  [ "${#tables[@]}" -gt 0 ] || { echo "error: no chunk results under $OUT" >&2; exit 2; }
  "$PY" "$HERE/acceptance.py" --reference "$REFERENCE" --out "$OUT" "${tables[@]}"
}

timing() {  # one image, 2 x 200 steps (the second run excludes one-off start-up), no QAT, no tracking
  for n in 200 400; do
    "${CLI[@]}" rd data.folder="$KODAK" 'data.images=[kodim01.png]' 'ladder=[[9,40]]' num_epochs=$n \
      optim.lr=1e-3 optim.lr_schedule=cosine trainer="$TRAINER" qat_steps=0 'codecs=[jpeg]' track=false \
      output_dir="$OUT/timing$n" "$@" > /dev/null
  done
  "$PY" - "$OUT" <<'PY'
import sys, pandas as pd
out = sys.argv[1]
seconds = [pd.read_csv(f"{out}/timing{n}/table.csv").query("codec == 'inr'")["fit_seconds"].iloc[0] for n in (200, 400)]
per_step = (seconds[1] - seconds[0]) / 200
steps = int(400 / (8 * per_step) // 500 * 500)
print(f"{per_step * 1e3:.2f} ms/step (9x40, 768x512, full batch); fit start-up {max(0.0, seconds[0] - 200 * per_step):.1f} s; "
      f"STEPS={steps} fits 8 images in about 400 s")
PY
}

case "$WHAT" in
  1|2|3) run_chunk "$WHAT" "$@" ;;
  timing) timing "$@" ;;
  merge) merge ;;
  all) for k in 1 2 3; do run_chunk "$k" "$@"; done; merge ;;
  *) echo "error: chunk $WHAT; accepted: 1, 2, 3, merge, all, timing" >&2; exit 2 ;;
esac
