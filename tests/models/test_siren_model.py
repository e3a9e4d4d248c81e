"""SIREN init bounds and the paper's pre-activation distribution property."""

from __future__ import annotations

import math

import torch
from torch import nn

from siren_inr.models import build_model
from siren_inr.models.siren import SineLayer


def _linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_init_bounds_and_uniform_std():
    torch.manual_seed(0)
    omega = 30.0
    model = build_model("siren", hidden_features=256, hidden_layers=3, first_omega_0=omega, hidden_omega_0=omega)
    linears = _linears(model)
    assert len(linears) == 1 + 3 + 1
    for i, layer in enumerate(linears):
        fan_in = layer.in_features
        bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / omega
        w = layer.weight.detach()
        assert w.abs().max() <= bound
        # U(-b, b) has std b / sqrt(3); the first layer has only 512 weights, so a looser tolerance.
        tolerance = 0.1 if i == 0 else 0.03
        assert abs(w.std().item() / (bound / math.sqrt(3)) - 1) < tolerance, i
        # Biases keep PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        assert layer.bias.abs().max() <= 1.0 / math.sqrt(fan_in)


def test_hidden_omega_scales_hidden_and_output_init_but_not_first():
    torch.manual_seed(0)
    model = build_model("siren", hidden_features=128, hidden_layers=1, first_omega_0=5.0, hidden_omega_0=60.0)
    first, hidden, last = _linears(model)
    assert first.weight.abs().max() <= 1 / 2
    assert first.weight.abs().max() > 0.4  # not squeezed by omega
    for layer in (hidden, last):
        assert layer.weight.abs().max() <= math.sqrt(6 / 128) / 60.0


def test_outermost_linear_false_ends_in_a_sine():
    model = build_model("siren", hidden_features=16, hidden_layers=1, outermost_linear=False)
    assert isinstance(model.net[-1], SineLayer)
    out = model(torch.rand(100, 2) * 1000)
    assert out.abs().max() <= 1.0


def test_hidden_preactivations_are_roughly_standard_normal():
    """The SIREN init makes omega_0 * W h have unit std for sine-layer inputs h.

    PyTorch's default bias U(+-1/sqrt(n)) (kept, as in the reference) adds omega_0^2 / (3n) variance,
    so the full pre-activation omega_0 * (W h + b) has variance 1 + omega_0^2 / (3n).
    """
    torch.manual_seed(0)
    omega, width = 30.0, 256
    model = build_model("siren", hidden_features=width, hidden_layers=4, hidden_omega_0=omega)
    h = model.net[0](torch.rand(8192, 2) * 2 - 1)
    for layer in model.net[1:-1]:
        weight_part = layer.omega_0 * (h @ layer.linear.weight.T)
        full = layer.pre_activation(h)
        assert abs(weight_part.std().item() - 1.0) < 0.15
        expected_full = math.sqrt(1.0 + omega**2 / (3 * width))
        assert abs(full.std().item() / expected_full - 1.0) < 0.12
        # Roughly Gaussian: about 68% of the weight part within one std.
        frac = (weight_part.abs() < weight_part.std()).float().mean().item()
        assert 0.62 < frac < 0.74
        h = torch.sin(full)


def test_mixed_first_layer_is_a_siren_first_layer():
    torch.manual_seed(0)
    model = build_model("mixed", hidden_features=64, hidden_layers=2, first_omega_0=20.0)
    first = model.net[0]
    assert isinstance(first, SineLayer) and first.omega_0 == 20.0
    assert first.linear.weight.abs().max() <= 1 / 2
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 2
    # Xavier-normal hidden weights: std sqrt(2 / (fan_in + fan_out)).
    hidden = model.net[1]
    assert abs(hidden.weight.std().item() / math.sqrt(2 / 128) - 1) < 0.05
