"""The Benford figure is written as a readable PNG for colour and grey images, with and without a prediction."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from siren_inr.analysis.benford_plot import plot_benford
from siren_inr.metrics.benford import benford_report


@pytest.mark.parametrize("channels, with_prediction", [(1, True), (3, True), (1, False)])
def test_plot_benford_writes_png(tmp_path, channels, with_prediction):
    rng = np.random.default_rng(0)
    gt = rng.random((32, 32, channels))
    pred = np.clip(gt + rng.normal(0, 0.1, gt.shape), 0, 1) if with_prediction else None
    path = plot_benford(benford_report(gt, pred), tmp_path / "sub" / "benford.png", title="test")
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.width > img.height > 200
        pixels = np.asarray(img.convert("L"))
    # Bars and the curve are drawn: a blank canvas would be a single grey level.
    assert len(np.unique(pixels)) > 10
