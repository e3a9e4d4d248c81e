"""Quantization-aware tuning recovers what coarse quantization loses, and never makes things worse."""

import pytest
import torch

from siren_inr.compression.codec import encode_inr
from siren_inr.compression.qat import QatSettings, quantization_aware_finetune, quantized_psnr_db
from siren_inr.compression.quantize import QuantSettings
from siren_inr.data import PixelField
from siren_inr.errors import SirenInrError
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model
from testkit import smooth_image


@pytest.fixture(scope="module")
def fitted():
    image = smooth_image(24, channels=3)
    field = PixelField.from_image(image)
    torch.manual_seed(0)
    hp = {"in_features": 2, "out_features": 3, "hidden_features": 16, "hidden_layers": 2}
    result = fit_model("siren", hp, field, FitSettings(num_epochs=150, lr=1e-3, accelerator="cpu", progress="none",
                                                      log_every_n_steps=150))
    return image, field, result.model


def test_qat_improves_coarse_quantization_and_encodes_what_it_scored(fitted):
    image, field, model = fitted
    quant = QuantSettings(bits=5, sensitive_bits=None)  # every tensor coarse, so there is a lot to recover
    tuned = quantization_aware_finetune(model, field, quant, QatSettings(steps=60, lr=1e-4, eval_every=10))
    assert tuned.psnr_before_db == pytest.approx(quantized_psnr_db(model, field, quant))
    assert tuned.psnr_after_db > tuned.psnr_before_db + 0.3
    assert tuned.psnr_after_db == max(row["psnr_db"] for row in tuned.history)
    # The file holds exactly the tuned quantized network: its (8-bit rounded) PSNR is within rounding of the score.
    plain = encode_inr(model, 24, 24, 3, quant, reference=image)
    better = encode_inr(tuned.model, 24, 24, 3, quant, reference=image)
    assert better.psnr_db > plain.psnr_db
    assert abs(better.psnr_db - tuned.psnr_after_db) < 0.5
    # The input model is untouched.
    assert quantized_psnr_db(model, field, quant) == tuned.psnr_before_db


def test_qat_keeps_the_untuned_weights_when_tuning_hurts(fitted):
    _, field, model = fitted
    quant = QuantSettings(bits=12)
    tuned = quantization_aware_finetune(model, field, quant, QatSettings(steps=10, lr=1.0, eval_every=5))
    # lr 1.0 wrecks the weights: every later score is worse, so the step-0 (untuned) weights are the ones kept.
    scores = {row["step"]: row["psnr_db"] for row in tuned.history}
    assert max(v for step, v in scores.items() if step > 0) < scores[0]
    assert tuned.best_step == 0 and tuned.psnr_after_db == tuned.psnr_before_db
    assert quantized_psnr_db(tuned.model, field, quant) == pytest.approx(tuned.psnr_before_db, abs=1e-6)
    off = quantization_aware_finetune(model, field, quant, QatSettings(steps=0))
    assert off.best_step == 0 and off.psnr_after_db == off.psnr_before_db


@pytest.mark.parametrize("kwargs", [{"steps": -1}, {"lr": 0.0}, {"lr": float("nan")}, {"eval_every": 0}])
def test_bad_qat_settings(kwargs):
    with pytest.raises(SirenInrError):
        QatSettings(**kwargs)


def test_tiled_qat_tunes_what_the_functional_forward_tunes(fitted, monkeypatch):
    # On the CPU QAT feeds the quantized weights to the tiled step; the autograd forward must agree with it.
    from siren_inr.compression import qat

    image, field, model = fitted
    quant, settings = QuantSettings(bits=6, sensitive_bits=None), QatSettings(steps=20, lr=1e-4, eval_every=5)
    assert qat._tiled_qat(model, field)[0] is not None
    tiled = quantization_aware_finetune(model, field, quant, settings)
    monkeypatch.setattr(qat, "_tiled_qat", lambda *_: (None, None, None))
    plain = quantization_aware_finetune(model, field, quant, settings)
    assert [h["step"] for h in tiled.history] == [h["step"] for h in plain.history]
    for a, b in zip(tiled.history, plain.history):
        assert abs(a["psnr_db"] - b["psnr_db"]) < 0.02
    for a, b in zip(tiled.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
