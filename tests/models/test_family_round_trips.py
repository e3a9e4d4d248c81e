"""Every family through the places a network goes: a short fit improves it, a checkpoint rebuilds it, an
.inr file rebuilds it from the registry by name (the codec's quantizer sees only float tensors)."""

from __future__ import annotations

import pytorch_lightning as pl
import pytest
import torch

from siren_inr.compression.codec import encode_inr, quantized_state, read_inr, render, write_inr
from siren_inr.compression.quantize import QuantSettings
from siren_inr.data import PixelField
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import fit_model, load_module
from siren_inr.models import build_model, model_spec

from testkit import smooth_image

# Learning rates at which each of the new families makes progress in a few dozen steps (hash_grid's tables
# start at 1e-4 and need the paper's large rate; WIRE's authors recommend 5e-3 to 2e-2).
FIT_LR = {"finer": 1e-3, "wire": 5e-3, "gauss": 1e-3, "hash_grid": 1e-2}


def _settings(**overrides) -> FitSettings:
    base = dict(num_epochs=40, lr=1e-3, log_every_n_steps=10, accelerator="cpu", progress="none")
    base.update(overrides)
    return FitSettings(**base)


@pytest.mark.parametrize("name", sorted(FIT_LR))
def test_a_short_fit_improves_psnr(name, small_hparams):
    pl.seed_everything(0, verbose=False)
    field = PixelField.from_image(smooth_image(16))
    result = fit_model(name, small_hparams(name, out_features=1), field, _settings(lr=FIT_LR[name]))
    first, last = result.history[0]["train_psnr"], result.final["psnr"]
    assert last > first + 5, (name, first, last)


def test_checkpoint_round_trip(family, small_hparams, tmp_path):
    pl.seed_everything(0, verbose=False)
    field = PixelField.from_image(smooth_image(12, channels=3))
    result = fit_model(family, small_hparams(family), field, _settings(num_epochs=3, log_every_n_steps=1),
                       checkpoint_dir=tmp_path)
    torch.manual_seed(99)  # the rebuilt network's own init must not matter
    module = load_module(tmp_path / "last.ckpt", field)
    assert model_spec(module.net) == model_spec(result.model)
    with torch.no_grad():
        assert torch.equal(module.net(field.coords), result.model(field.coords))


@pytest.mark.parametrize("quant", [QuantSettings(mode="fp32"), QuantSettings(mode="uniform", bits=8, per_channel=True)],
                         ids=["fp32", "uniform8"])
def test_inr_file_round_trip(family, small_hparams, quant, tmp_path):
    torch.manual_seed(0)
    model = build_model(family, **small_hparams(family))
    with torch.no_grad():  # move every parameter off its init so the file must carry it
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.01)
    encoded = encode_inr(model, 10, 12, 3, quant)
    write_inr(tmp_path / "x.inr", encoded.data)
    decoded = read_inr(tmp_path / "x.inr")
    assert (decoded.arch, decoded.hparams) == model_spec(model)
    expected = quantized_state(model, quant)
    state = decoded.model.state_dict()
    assert list(state) == list(expected)
    for key in expected:
        assert torch.equal(state[key], expected[key]), key
    if quant.mode == "fp32":
        for key, value in model.state_dict().items():
            assert torch.equal(state[key], value), key
    # The decoded image is the quantized network rendered on the pixel grid.
    reference = build_model(*model_spec(model))
    reference.load_state_dict(expected)
    assert (decoded.image_u8 == render(reference, 10, 12, 3)).all()
