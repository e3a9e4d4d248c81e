#!/usr/bin/env bash
# CPU setting of the Kodak rate–distortion study: 4 images, 128x128 centre crops, a ladder scaled to the
# crop (about 0.3-1.6 bpp at 8 bits), 800 full-batch steps per point (the 4 crops of a point fitted as one batched
# network), then JPEG, JPEG 2000, WebP, AVIF, JPEG XL and HEIC each swept over its settings on every crop.
# Results go to experiments/kodak_rd/results_cpu (committed); runs into ./mlruns of the repository root.
set -euo pipefail
source "$(dirname "$0")/paths.sh"  # HERE, REPO (the working directory), KODAK, REFERENCE
OUT=experiments/kodak_rd/results_cpu
# One thread per process: on a busy 2-core machine OpenMP's spinning threads slow small matmuls tenfold.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
siren-inr rd data.folder="$KODAK" \
  'data.images=[kodim01.png,kodim05.png,kodim15.png,kodim23.png]' data.crop=128 \
  'ladder=[[2,12],[3,16],[4,20],[5,24]]' num_epochs=800 optim.lr=2e-4 trainer=cpu \
  quant.bits=8 quant.sensitive_bits=12 qat_steps=300 \
  output_dir="$OUT/rd" reference_dir="$REFERENCE" experiment_name=kodak-rd-cpu "$@"
# JPEG against the published Pillow curve on all 24 full images (no fits; ~10 min on 2 idle cores).
if [ "${SKIP_JPEG_CHECK:-0}" != "1" ]; then
  python "$HERE/jpeg_check.py" --kodak "$KODAK" --reference "$REFERENCE" --out "$OUT"
fi
