#!/usr/bin/env bash
# Install siren-inr and everything it needs into the given Python (default: python3).
# Machines without an NVIDIA GPU get a CPU build of PyTorch; machines with one get pip's default (CUDA) build.
set -euo pipefail
PY=${1:-python3}
cd "$(dirname "$0")/.."
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "$PY" -m pip install "torch>=2.4"
  else
    # 2.13.0 is the CPU build kept on disk where this project is developed; elsewhere the CPU index serves it.
    "$PY" -m pip install "torch==2.13.0" \
      || "$PY" -m pip install "torch>=2.4" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
"$PY" -m pip install -e ".[dev]"
"$PY" -c "import siren_inr, torch, pytorch_lightning, mlflow, hydra; print('siren-inr ready: torch', torch.__version__)"
