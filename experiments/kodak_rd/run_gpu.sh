#!/usr/bin/env bash
# Full GPU setting of the Kodak rate–distortion study: all 24 images at 768x512, COIN's networks (the
# default ladder 4x20 ... 12x49 = the paper's 5x20 ... 13x49, which count the first layer), 50,000 full-batch
# Adam steps at lr 2e-4 as COIN, 8-bit weights with 300 quantization-aware steps, entropy coded. About
# 5 fits x 24 images x ~4 min on one H100 (COIN-sized nets run ~4.5 ms/step in plain PyTorch): roughly
# 8 GPU hours. run_gpu_acceptance.sh measures only the ~0.3 bpp point, in under half an hour.
# Pass extra key=value settings to change it, e.g. data.max_images=4 or quant.bits=7.
set -euo pipefail
source "$(dirname "$0")/paths.sh"  # HERE, REPO (the working directory), KODAK, REFERENCE
siren-inr rd data.folder="$KODAK" num_epochs=50000 optim.lr=2e-4 trainer=gpu \
  quant.bits=8 qat_steps=300 \
  output_dir=experiments/kodak_rd/results_gpu/rd reference_dir="$REFERENCE" experiment_name=kodak-rd-gpu "$@"
