"""Uniform quantization: the error bound, grid coverage, fp16 rounding, bad settings."""

import numpy as np
import pytest
import torch

from siren_inr.compression.quantize import (
    QuantSettings,
    fake_quantize,
    grid_params,
    quantize_uniform,
    round_trip,
)
from siren_inr.errors import SirenInrError


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 12, 16])
@pytest.mark.parametrize("per_channel", [False, True])
def test_error_is_at_most_half_a_step(bits, per_channel):
    rng = np.random.default_rng(bits)
    # Rows with very different ranges, so per-channel scales matter.
    w = rng.normal(size=(7, 33)) * np.logspace(-3, 1, 7)[:, None]
    qt = quantize_uniform(w, bits, per_channel)
    rec = qt.dequantize().astype(np.float64)
    groups = 7 if per_channel else 1
    step = np.repeat(qt.step.astype(np.float64), w.size // groups).reshape(w.shape)
    slack = 4 * np.finfo(np.float32).eps * np.abs(w).max()
    assert np.all(np.abs(rec - w) <= step / 2 + slack)
    assert qt.symbols.min() >= 0 and qt.symbols.max() <= (1 << bits) - 1
    assert qt.low.dtype == np.float16 and qt.step.dtype == np.float16


def test_grid_covers_range_and_step_is_tight():
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.37, 0.52, size=1000)
    low, step = grid_params(w, 8, 1)
    assert float(low[0]) <= w.min()
    assert float(low[0]) + 255 * float(step[0]) >= w.max()
    # Directed fp16 rounding widens the step by at most a couple of float16 ulps.
    ideal = (w.max() - w.min()) / 255
    assert ideal <= float(step[0]) <= ideal * (1 + 4 * 2.0**-10) + 1e-6
    # The extremes land on the first and last levels.
    qt = quantize_uniform(w, 8)
    assert qt.symbols[np.argmin(w)] == 0 and qt.symbols[np.argmax(w)] == 255


def test_per_channel_beats_per_tensor_on_rows_of_different_scale():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 64)) * np.array([1e-3, 1e-2, 1e-1, 1.0])[:, None]
    err_tensor = np.abs(quantize_uniform(w, 6, False).dequantize() - w)[0].max()
    err_channel = np.abs(quantize_uniform(w, 6, True).dequantize() - w)[0].max()
    assert err_channel < err_tensor / 100


def test_constant_and_vector_tensors():
    w = np.full(10, 0.125)  # exactly representable: a zero step must reproduce it exactly
    qt = quantize_uniform(w, 4, per_channel=True)
    assert qt.step[0] == 0 and np.array_equal(qt.dequantize(), w.astype(np.float32))
    assert qt.low.shape == (1,)  # vectors get one group even with per_channel
    assert not qt.symbols.any()  # a constant group is stored as symbol 0


def test_one_grid_per_tensor_unless_per_channel_is_asked_for():
    rows = np.array([[0.0, 1.0], [10.0, 30.0], [-2.0, 2.0]])
    default, per_channel = quantize_uniform(rows, 8), quantize_uniform(rows, 8, per_channel=True)
    assert default.low.shape == (1,) and per_channel.low.shape == (3,)
    assert np.array_equal(default.symbols, quantize_uniform(rows, 8, per_channel=False).symbols)


def test_sensitive_bits_go_to_vectors_and_coordinate_input_matrices_only():
    quant = QuantSettings(bits=6, sensitive_bits=12)
    assert quant.bits_for((32,)) == 12 and quant.bits_for((32, 2)) == 12  # a bias; the first layer's [out, in=2]
    assert quant.bits_for((32, 32)) == 6
    assert QuantSettings(bits=6, sensitive_bits=None).bits_for((32,)) == 6  # none: every tensor at bits


def test_round_trip_modes_and_fake_quant_gradient():
    torch.manual_seed(0)
    w = torch.randn(5, 8, requires_grad=True)
    assert torch.equal(round_trip(w, QuantSettings(mode="fp32")), w.detach())
    assert torch.equal(round_trip(w, QuantSettings(mode="fp16")), w.detach().half().float())
    q = round_trip(w, QuantSettings(bits=3))
    assert len(torch.unique(q)) <= 8
    out = fake_quantize(w, QuantSettings(bits=3))
    assert torch.equal(out.detach(), q)
    out.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # straight-through


@pytest.mark.parametrize(
    "kwargs", [{"mode": "int8"}, {"bits": 0}, {"bits": 17}, {"bits": True}, {"per_channel": "yes"}]
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(SirenInrError):
        QuantSettings(**kwargs)


def test_non_finite_and_out_of_fp16_range_weights_raise():
    with pytest.raises(SirenInrError, match="non-finite"):
        quantize_uniform(np.array([0.0, np.nan]), 8)
    with pytest.raises(SirenInrError, match="fp32"):
        quantize_uniform(np.array([-1e6, 1e6]), 8)
    with pytest.raises(SirenInrError, match="fp32"):
        round_trip(torch.tensor([1e6]), QuantSettings(mode="fp16"))
