#!/usr/bin/env bash
# The original SIREN image-fitting study on cameraman, end to end: one tracked fit, then `siren-inr analyze`
# (history plots, images, Benford statistics) into results/. Defaults are the CPU settings whose results are
# committed; the full-size study is SIDELENGTH=256 TRAINER=gpu ./run.sh (see README.md).
set -euo pipefail
cd "$(dirname "$0")"

SIDELENGTH=${SIDELENGTH:-64}   # the original study: 256
EPOCHS=${EPOCHS:-300}
LR=${LR:-1e-4}
TRAINER=${TRAINER:-cpu}        # cpu | gpu | default (GPU when there is one)
RESULTS=${RESULTS:-results}
STORE="sqlite:///$PWD/mlruns/mlflow.db"

# A fresh store each time: the report then holds exactly this run.
rm -rf mlruns outputs "$RESULTS"

siren-inr train model=siren data.image=cameraman data.sidelength="$SIDELENGTH" num_epochs="$EPOCHS" \
  optim.lr="$LR" optim.lr_schedule=none model.hidden_features=256 model.hidden_layers=3 seed=0 log_every_n_steps=10 \
  trainer="$TRAINER" progress=lines experiment_name=seed_report tracking.uri="$STORE" \
  run_name="siren-cameraman-${SIDELENGTH}px" hydra.run.dir=outputs/seed_report

siren-inr analyze experiment_name=seed_report out="$RESULTS" tracking.uri="$STORE" \
  title="Seed report: SIREN on cameraman (${SIDELENGTH}x${SIDELENGTH}, ${EPOCHS} epochs, lr ${LR})"
