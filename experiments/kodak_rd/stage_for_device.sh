#!/usr/bin/env bash
# Stage what a lent GPU machine needs for run_gpu_acceptance.sh, inside the checkout (git-ignored), since
# only the repository travels there: the Kodak images and published curves in .kodak/, and the wheels the
# machine lacks (Hydra, MLflow client, constriction, bjontegaard) in .whl/. Run once, from anywhere.
# Then, as one device call per chunk (carry [".whl", ".kodak"], each under 10 minutes):
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && \
#   export PYTHONPATH=/tmp/site:$PWD && KODAK=.kodak REFERENCE=.kodak/reference OUT=$OUT/acc \
#   SIREN_INR="python3 -m siren_inr" ./experiments/kodak_rd/run_gpu_acceptance.sh 1
# and copy $OUT/acc/chunk1/rd/table.csv back (files under $OUT come back), likewise chunks 2 and 3, then
#   ./experiments/kodak_rd/run_gpu_acceptance.sh merge     (here, with OUT pointing at the fetched chunks)
set -euo pipefail
source "$(dirname "$0")/paths.sh"  # HERE, REPO (the working directory), KODAK, REFERENCE
mkdir -p .git/info .kodak/reference
grep -qx '/.kodak/' .git/info/exclude 2>/dev/null || echo '/.kodak/' >> .git/info/exclude
cp "$KODAK"/kodim*.png .kodak/
cp "$REFERENCE"/*.json .kodak/reference/
../shared/tools/device-wheels.sh constriction bjontegaard
du -sh .kodak .whl
