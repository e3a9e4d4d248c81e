#!/usr/bin/env bash
# Full GPU setting of the Kodak rate–distortion study (issue 12): all 24 images at 768x512, the three INR codecs
# against JPEG, JPEG 2000, WebP, AVIF, JPEG XL and HEIC, and each INR codec's every image against Cool-chic's
# published per-image curves (reference_dir: report.md "Against published per-image curves", reference_bd.csv).
#   coin:     COIN's networks (the default ladder 4x20 ... 12x49 = the paper's 5x20 ... 13x49, which count the first
#             layer), 50,000 full-batch Adam steps at lr 2e-4 as COIN; 8-bit weights (biases and first layer 12-bit)
#             with 300 quantization-aware steps, entropy coded.
#   siren_pe: 3x32, 3x48, 3x64, 3x96 (positional encoding, 8 octaves, lr 1e-3 cosine, L1 1e-5), 20,000 steps,
#             the same quantization, QAT and coder.
#   latent:   Cool-chic 1.0's lambdas (0.02, 0.004, 0.0005, 0.0001: the `lambda` list of coolchic-1.0.json),
#             20,000 steps, the hop preset (about 1,900 multiplications per pixel, as Cool-chic 5's default).
# Not run here: no GPU was lent to the session that wrote it; the overrides were checked to compose only.
# Time, from per-step costs (estimates, not a measured run):
#   coin: 5 fits x 24 images x ~4 min (COIN-sized nets ~4.5 ms/step on an H100 in plain PyTorch): ~8 GPU hours.
#   siren_pe and latent: their plain-torch fits and QAT run on the first GPU when CUDA is available
#   (compression/device.py; written without a GPU to try it on, so untested there), coded on the CPU. For scale, on
#   this CPU at 768x512 (one thread, shared core) siren_pe takes 2.0-6.0 s/step (3x32-3x96); the latent codec's
#   format-3 step was not measured at this size (0.11 s/step at 256x256, lop). On a GPU siren_pe's nets (up to 31.6k multiplications per pixel; COIN's 12x49: 29.7k) should take
#   ~4.5 ms/step (~2.4 GPU hours) and latent, launch-bound, perhaps 5-10 ms/step (~3-5 GPU hours; no GPU number
#   exists): ~13-16 GPU hours in all. The classical sweeps run on the CPU either way (minutes).
# run_gpu_acceptance.sh measures only coin's ~0.3 bpp point, in under half an hour. Extra key=value settings
# override these (later wins), e.g. data.max_images=4, or coin alone: inr_codecs=[coin] inr_settings=null
# inr_ladders=null.
set -euo pipefail
source "$(dirname "$0")/paths.sh"  # HERE, REPO (the working directory), KODAK, REFERENCE
SIREN_PE_LADDER="[{hidden_layers: 3, hidden_features: 32}, {hidden_layers: 3, hidden_features: 48},"
SIREN_PE_LADDER+=" {hidden_layers: 3, hidden_features: 64}, {hidden_layers: 3, hidden_features: 96}]"
LATENT_LADDER="[{train: {lam: 0.02}}, {train: {lam: 0.004}}, {train: {lam: 0.0005}}, {train: {lam: 0.0001}}]"
siren-inr rd data.folder="$KODAK" num_epochs=50000 optim.lr=2e-4 trainer=gpu \
  quant.bits=8 qat_steps=300 \
  "inr_codecs=[coin,siren_pe,latent]" \
  "inr_settings={siren_pe: {steps: 20000}, latent: {preset: hop, train: {steps: 20000}}}" \
  "inr_ladders={siren_pe: $SIREN_PE_LADDER, latent: $LATENT_LADDER}" \
  output_dir=experiments/kodak_rd/results_gpu/rd reference_dir="$REFERENCE" experiment_name=kodak-rd-gpu "$@"
