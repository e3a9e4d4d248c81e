"""Run records made in the test: a tiny cameraman and noisy reconstructions with known final metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skimage.data
import skimage.transform

from siren_inr.analysis.records import RunRecord
from siren_inr.metrics.quality import mse, psnr_db, ssim


def make_record(model: str, seed: int, noise: float, size: int = 32, epochs: int = 20, **params) -> RunRecord:
    """A finished run whose final metrics are computed from its own images, as the fit would log them."""
    gt = (skimage.transform.resize(skimage.data.camera(), (size, size)) * 255).round().astype(np.uint8)[..., None]
    rng = np.random.default_rng(seed * 7 + len(model))
    pred = np.clip(gt + rng.normal(0, noise, gt.shape), 0, 255).round().astype(np.uint8)
    epoch = np.arange(epochs)
    history = pd.DataFrame({"epoch": epoch, "train_loss": 0.1 * np.exp(-epoch / 5) + 1e-4,
                            "train_psnr": 10 + epoch * 0.5 + seed, "train_ssim": 1 - np.exp(-epoch / 8)})
    gt_f, pred_f = gt / 255.0, pred / 255.0
    return RunRecord(
        run_id=f"{model}{seed:02d}".ljust(32, "0"), run_name=f"{model}-{seed}", experiment_name="zoo",
        params={"model.name": model, "seed": str(seed), "optim.lr": "0.0001", "data.image": "cameraman",
                "tracking.uri": f"sqlite:///{seed}.db", **params},
        final_metrics={"final/psnr": psnr_db(pred_f, gt_f), "final/ssim": ssim(pred_f, gt_f),
                       "final/mse": mse(pred_f, gt_f)},
        start_time_ms=1_000, end_time_ms=1_000 + 1500 * (seed + 1), history=history, steps=epochs,
        num_parameters=1234, ground_truth=gt, prediction=pred)


@pytest.fixture
def record_factory():
    """make_record, for tests that need runs of their own."""
    return make_record


@pytest.fixture
def zoo_records() -> list[RunRecord]:
    """Two models times three seeds."""
    return [make_record(model, seed, noise) for model, noise in (("siren", 4.0), ("relu", 20.0))
            for seed in range(3)]
