"""Helpers importable from any test module (tests/ is on sys.path): tiny images, the real CLI, stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def smooth_image(size: int = 24, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A smooth test image [H, W, C] in [0, 1] (low frequencies, so tiny fits make progress)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    planes = []
    for _ in range(channels):
        a, b, c = rng.uniform(1, 3, size=3)
        planes.append(0.5 + 0.4 * np.sin(a * np.pi * x + c) * np.cos(b * np.pi * y))
    return np.stack(planes, axis=-1).astype(np.float32)


def run_cli(args: list[str], cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m siren_inr <args>` as a user would, capturing its output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("SIREN_INR_FAILURES", None)
    return subprocess.run([sys.executable, "-m", "siren_inr", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def store_uri(folder: Path) -> str:
    """The default store's URI for a working directory."""
    return f"sqlite:///{(folder / 'mlruns' / 'mlflow.db').resolve()}"
