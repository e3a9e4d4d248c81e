"""A CPU SIREN fit runs its steps in pixel tiles by default, and fits what the autograd step fits."""

from __future__ import annotations

import math

import pytest
import torch

from siren_inr.data import PixelField
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model
from siren_inr.metrics.quality import psnr_db
from siren_inr.models import build_model
from testkit import smooth_image

HPARAMS = dict(in_features=2, out_features=3, hidden_features=16, hidden_layers=2)


def _fit(model="siren", hparams=HPARAMS, **settings):
    torch.manual_seed(0)
    field = PixelField.from_image(smooth_image(24, channels=3))
    base = dict(num_epochs=15, lr=1e-3, progress="none", log_every_n_steps=5)
    return field, fit_model(model, dict(hparams), field, FitSettings(**{**base, **settings}))


def test_default_cpu_siren_fit_is_tiled_and_tracks_the_autograd_fit():
    _, tiled = _fit()
    _, plain = _fit(tiled_step=False)
    assert tiled.module.uses_tiled_step() and not plain.module.uses_tiled_step()
    assert [r["step"] for r in tiled.history] == [r["step"] for r in plain.history]
    for a, b in zip(tiled.history, plain.history):
        assert math.isclose(a["train_loss"], b["train_loss"], rel_tol=1e-4)
        assert abs(a["train_psnr"] - b["train_psnr"]) < 1e-3 and abs(a["train_ssim"] - b["train_ssim"]) < 1e-4
    for a, b in zip(tiled.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_history_row_of_a_tiled_step_is_the_network_before_that_step():
    field, fitted = _fit(num_epochs=1, log_every_n_steps=1)
    torch.manual_seed(0)
    initial = build_model("siren", **HPARAMS)
    with torch.no_grad():
        expected = psnr_db(field.to_image(initial(field.coords)), field.image())
    assert fitted.history[0]["step"] == 0
    assert abs(fitted.history[0]["train_psnr"] - expected) < 1e-4


def test_tiled_fit_reruns_bit_for_bit():
    _, first = _fit()
    _, second = _fit()
    assert first.history == second.history
    assert all(torch.equal(a, b) for a, b in zip(first.model.parameters(), second.model.parameters()))


@pytest.mark.parametrize("model, hparams, settings", [
    ("relu", HPARAMS, {}),  # not a sine MLP
    ("siren", HPARAMS, {"fused_sine": True}),  # its own kernels
    ("siren", HPARAMS, {"tiled_step": False}),
])
def test_other_fits_keep_the_autograd_step(model, hparams, settings):
    _, fitted = _fit(model, hparams, num_epochs=2, **settings)
    assert not fitted.module.uses_tiled_step()


def test_minibatch_and_positional_encoding_fits_are_tiled_too():
    pe = dict(HPARAMS, num_frequencies=3)
    _, tiled = _fit("siren_pe", pe, batch_size=200)
    _, plain = _fit("siren_pe", pe, batch_size=200, tiled_step=False)
    assert tiled.module.uses_tiled_step()
    assert abs(tiled.final["psnr"] - plain.final["psnr"]) < 1e-2
