#!/usr/bin/env bash
# The issue's acceptance fit: SIREN 3x256, omega0 30, Adam 1e-4, full batch, cameraman 256^2, 1000 epochs.
# Writes into ./mlruns (experiment "acceptance"); copy history/, plots/, images/ of the run into results/.
set -euo pipefail
cd "$(dirname "$0")"
siren-inr train +experiment=reference num_epochs=1000 log_every_n_steps=50 experiment_name=acceptance progress=lines "$@"
