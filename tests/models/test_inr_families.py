"""finer, wire, gauss, hash_grid: each paper's activation and initialisation against its formula, and the
weights of the older families bit-identical for a seed (the shared MLP builder changed no draw)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from siren_inr.models import build_model, model_spec
from siren_inr.models.finer import finer_activation
from siren_inr.models.hash_grid import PRIMES, level_resolutions
from siren_inr.models.wire import complex_width

FINGERPRINTS = Path(__file__).parent / "data" / "weights_seed0.json"


def _uniform_std(bound: float) -> float:
    return bound / math.sqrt(3.0)


def _check_uniform(values: torch.Tensor, bound: float, tolerance: float) -> None:
    values = values.detach().reshape(-1)
    assert values.abs().max() <= bound
    assert values.abs().max() > 0.9 * bound  # spans the range, not a narrower init
    assert abs(values.std().item() / _uniform_std(bound) - 1) < tolerance
    assert abs(values.mean().item()) < 4 * _uniform_std(bound) / math.sqrt(values.numel())


@pytest.mark.parametrize("name", sorted(json.loads(FINGERPRINTS.read_text())))
def test_older_families_weights_are_bit_identical_for_a_seed(name):
    # Fingerprints written by the code before the shared builders (mlp.mlp, siren.sine_mlp) existed.
    extra = {"nerf": {"sidelength": 32}}.get(name, {})
    torch.manual_seed(0)
    model = build_model(name, hidden_features=16, hidden_layers=2, out_features=3, **extra)
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().contiguous().numpy().tobytes())
    assert digest.hexdigest() == json.loads(FINGERPRINTS.read_text())[name]


# --- FINER --------------------------------------------------------------------------------------------

def test_finer_init_is_sirens_with_a_wide_first_bias():
    torch.manual_seed(0)
    omega, k, width = 30.0, 20.0, 256
    model = build_model("finer", hidden_features=width, hidden_layers=2, hidden_omega_0=omega, first_bias_scale=k)
    first, *hidden = [m.linear for m in model.net[:-1]]
    final = model.net[-1]
    _check_uniform(first.weight, 1.0 / 2, tolerance=0.1)  # U(-1/fan_in, 1/fan_in), fan_in = 2
    _check_uniform(first.bias, k, tolerance=0.1)  # the paper's U(-k, k) first-layer bias
    for layer in (*hidden, final):
        _check_uniform(layer.weight, math.sqrt(6.0 / width) / omega, tolerance=0.03)
        assert layer.bias.abs().max() <= 1.0 / math.sqrt(width)  # PyTorch's default bias init kept


def test_finer_activation_is_variable_periodic_with_a_constant_scale_gradient():
    z = torch.linspace(-3, 3, 61, dtype=torch.float64, requires_grad=True)
    omega = 2.0
    out = finer_activation(z, omega)
    torch.testing.assert_close(out, torch.sin(omega * (z.abs() + 1) * z))
    out.sum().backward()
    # (|z| + 1) is held constant: d/dz = omega (|z| + 1) cos(omega (|z| + 1) z).
    alpha = z.detach().abs() + 1
    torch.testing.assert_close(z.grad, omega * alpha * torch.cos(omega * alpha * z.detach()))
    # The layer applies it to W x + b.
    torch.manual_seed(0)
    model = build_model("finer", hidden_features=8, hidden_layers=1)
    x = torch.rand(5, 2) * 2 - 1
    layer = model.net[0]
    expected = finer_activation(layer.linear(x), 30.0)
    torch.testing.assert_close(layer(x), expected)


# --- WIRE ---------------------------------------------------------------------------------------------

def test_wire_init_is_pytorch_default_on_real_and_imaginary_parts_at_width_over_sqrt2():
    torch.manual_seed(0)
    model = build_model("wire", hidden_features=362, hidden_layers=2)
    units = complex_width(362)
    assert units == 255
    assert model.first.weight.shape == (units, 2)
    _check_uniform(model.first.weight, 1 / math.sqrt(2), tolerance=0.1)
    for layer in model.hidden:
        for tensor in (layer.weight_re, layer.weight_im):
            assert tensor.shape == (units, units)
            _check_uniform(tensor, 1 / math.sqrt(units), tolerance=0.03)
        for tensor in (layer.bias_re, layer.bias_im):
            assert tensor.abs().max() <= 1 / math.sqrt(units)
    # Same parameter count as a real MLP of width 362, within the rounding of the width.
    real = sum(p.numel() for p in build_model("relu", hidden_features=362, hidden_layers=2).parameters())
    assert abs(sum(p.numel() for p in model.parameters()) / real - 1) < 0.02
    assert model.last.bias_im is None


def test_wire_matches_an_independent_complex_computation():
    torch.manual_seed(0)
    model = build_model("wire", hidden_features=12, hidden_layers=2, out_features=3, first_omega_0=7.0,
                        hidden_omega_0=5.0, scale_0=3.0).double()
    x = (torch.rand(9, 2, dtype=torch.float64) * 2 - 1)

    def gabor(u, omega):  # the paper's psi(u) = exp(i omega u - |s u|^2), in complex arithmetic
        return torch.exp(1j * omega * u - (3.0 * u).abs().square())

    z = gabor((x @ model.first.weight.T + model.first.bias).to(torch.complex128), 7.0)
    for layer in model.hidden:
        weight = torch.complex(layer.weight_re, layer.weight_im)
        bias = torch.complex(layer.bias_re, layer.bias_im)
        z = gabor(z @ weight.T + bias, 5.0)
    weight = torch.complex(model.last.weight_re, model.last.weight_im)
    expected = (z @ weight.T + model.last.bias_re).real
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


# --- Gauss --------------------------------------------------------------------------------------------

def test_gauss_activation_and_pytorch_default_init():
    torch.manual_seed(0)
    width, sigma = 256, 0.25
    model = build_model("gauss", hidden_features=width, hidden_layers=2, sigma=sigma)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 4
    for layer in linears[1:-1]:  # 65536 weights each: a tight check of the std
        _check_uniform(layer.weight, 1 / math.sqrt(width), tolerance=0.03)
        _check_uniform(layer.bias, 1 / math.sqrt(width), tolerance=0.25)
    _check_uniform(linears[-1].weight, 1 / math.sqrt(width), tolerance=0.25)  # 256 weights
    _check_uniform(linears[0].weight, 1 / math.sqrt(2), tolerance=0.25)
    z = torch.linspace(-1, 1, 41)
    torch.testing.assert_close(model.net[1](z), torch.exp(-z**2 / (2 * sigma**2)))
    # exp(-1/2) one sigma from 0: the Gaussian's half-width is sigma.
    assert model.net[1](torch.tensor([sigma])).item() == pytest.approx(math.exp(-0.5))


# --- hash grid ----------------------------------------------------------------------------------------

def _hash_model(**overrides):
    settings = dict(num_levels=4, features_per_level=2, log2_table_size=8, base_resolution=4,
                    finest_resolution=32, hidden_features=16, hidden_layers=1)
    settings.update(overrides)
    return build_model("hash_grid", **settings)


def test_hash_grid_levels_tables_and_init():
    assert level_resolutions(16, 16, 512) == [int(16 * 32 ** (level / 15) + 1e-9) for level in range(16)]
    assert level_resolutions(16, 16, 512)[-1] == 512
    torch.manual_seed(0)
    model = _hash_model()
    enc = model.encoding
    assert enc.resolutions == [4, 8, 16, 32]
    # (N+1)^2 <= 256 at N = 4, 8: one entry per vertex; N = 16, 32 hash into T = 256 entries.
    assert enc.dense == [True, True, False, False]
    assert [tuple(t.shape) for t in enc.tables] == [(2, 25), (2, 81), (2, 256), (2, 256)]
    big = build_model("hash_grid", log2_table_size=14)  # the paper's U(-1e-4, 1e-4) table init
    _check_uniform(torch.cat([t.reshape(-1) for t in big.encoding.tables]), 1e-4, tolerance=0.03)
    assert model.net[0].in_features == 4 * 2


def test_hash_grid_hash_and_dense_indices_by_hand():
    model = _hash_model()
    enc = model.encoding
    vertices = torch.tensor([[3, 5], [16, 0], [7, 11]])
    # Dense level 1 (N = 8): x + 9 y.
    assert enc.vertex_index(vertices[:1], 1).tolist() == [3 + 9 * 5]
    # Hashed level 2: (x * 1 XOR y * 2654435761) mod 256.
    expected = [((x * PRIMES[0]) ^ (y * PRIMES[1])) % 256 for x, y in vertices.tolist()]
    assert enc.vertex_index(vertices, 2).tolist() == expected


def test_hash_grid_bilinear_interpolation_reproduces_a_linear_function_on_dense_levels():
    model = _hash_model()
    enc = model.encoding
    res = enc.resolutions[1]
    ys, xs = torch.meshgrid(torch.arange(res + 1), torch.arange(res + 1), indexing="ij")
    with torch.no_grad():  # feature 0 = 2 x_vertex - y_vertex, feature 1 = 1 at every vertex
        enc.tables[1][0] = (2.0 * xs - ys).reshape(-1).float()
        enc.tables[1][1] = 1.0
    coords = torch.rand(50, 2) * 2 - 1
    coords[0] = torch.tensor([1.0, 1.0])  # the far corner stays inside the last cell
    features = enc.level_features(coords, 1)
    position = (coords + 1) * 0.5 * res
    torch.testing.assert_close(features[:, 0], 2 * position[:, 0] - position[:, 1], atol=1e-4, rtol=0)
    torch.testing.assert_close(features[:, 1], torch.ones(50))
    # A coordinate exactly on a vertex reads that vertex's entry.
    vertex = torch.tensor([[-1.0 + 2 * 3 / res, -1.0 + 2 * 5 / res]])
    assert enc.level_features(vertex, 1)[0, 0].item() == pytest.approx(2 * 3 - 5, abs=1e-5)


def test_hash_grid_gradients_reach_only_the_touched_table_entries():
    torch.manual_seed(0)
    model = _hash_model()
    model(torch.tensor([[0.1, -0.3]])).sum().backward()
    for table in model.encoding.tables:
        touched = (table.grad.abs().sum(0) > 0).sum().item()
        assert 1 <= touched <= 4  # the cell's four corners (fewer where hashed corners collide)


def test_new_families_specs_are_primitive_and_resolved():
    for name in ("finer", "wire", "gauss", "hash_grid"):
        _, spec = model_spec(build_model(name, hidden_features=8, hidden_layers=1, log2_table_size=10)
                             if name == "hash_grid" else build_model(name, hidden_features=8, hidden_layers=1))
        assert all(isinstance(v, (bool, int, float, str)) for v in spec.values()), name
