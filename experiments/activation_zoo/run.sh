#!/usr/bin/env bash
# Seven network families on cameraman at equal steps, three seeds each, as one Hydra multirun; then
# `siren-inr analyze` of the sweep into results/ (PSNR curves overlaid, grouped mean ± std table, Benford).
# Defaults are the CPU settings whose results are committed; see README.md for the full-size GPU version.
set -euo pipefail
cd "$(dirname "$0")"

MODELS=${MODELS:-siren,relu,tanh,nerf,rbf,mixed,fourier}
SEEDS=${SEEDS:-0,1,2}
SIDELENGTH=${SIDELENGTH:-64}   # SIREN paper: 256
WIDTH=${WIDTH:-64}             # SIREN paper: 256
EPOCHS=${EPOCHS:-200}
LR=${LR:-1e-4}
TRAINER=${TRAINER:-cpu}
RESULTS=${RESULTS:-results}
STORE="sqlite:///$PWD/mlruns/mlflow.db"

rm -rf mlruns multirun outputs "$RESULTS"

siren-inr train -m model="$MODELS" seed="$SEEDS" data.image=cameraman data.sidelength="$SIDELENGTH" \
  model.hidden_features="$WIDTH" model.hidden_layers=3 num_epochs="$EPOCHS" optim.lr="$LR" optim.lr_schedule=none \
  log_every_n_steps=10 trainer="$TRAINER" progress=none experiment_name=activation_zoo \
  tracking.uri="$STORE" hydra.sweep.dir=multirun/activation_zoo

# The store holds only this multirun, so its experiment is the sweep (sweep=<id> selects the same runs).
siren-inr analyze experiment_name=activation_zoo out="$RESULTS" \
  tracking.uri="$STORE" \
  title="Activation zoo: seven families on cameraman (${SIDELENGTH}x${SIDELENGTH}, width ${WIDTH}, ${EPOCHS} epochs, lr ${LR})"
