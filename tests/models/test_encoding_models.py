"""nerf, fourier, rbf encodings and the relu/tanh inits against independent computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from siren_inr.models import build_model, model_spec
from siren_inr.models.nerf import frequencies_for_sidelength


@pytest.mark.parametrize("side, expected", [(256, 6), (512, 7), (64, 4), (100, 4), (4, 0)])
def test_nerf_frequency_count(side, expected):
    assert frequencies_for_sidelength(side) == expected
    if side >= 4:
        assert expected == math.floor(math.log2(side / 4))
    model = build_model("nerf", sidelength=side, hidden_features=8, hidden_layers=1)
    assert model_spec(model)[1]["num_frequencies"] == expected
    assert model.net[0].in_features == 2 * (1 + 2 * expected)


def test_nerf_explicit_frequencies_win_over_sidelength():
    model = build_model("nerf", num_frequencies=3, sidelength=512, hidden_features=8, hidden_layers=1)
    assert model_spec(model)[1]["num_frequencies"] == 3


def test_nerf_encoding_values_by_hand():
    model = build_model("nerf", num_frequencies=2, hidden_features=8, hidden_layers=1)
    x, y = 0.25, -0.5
    pi = math.pi
    expected = [
        x, y,
        math.sin(pi * x), math.sin(pi * y), math.cos(pi * x), math.cos(pi * y),
        math.sin(2 * pi * x), math.sin(2 * pi * y), math.cos(2 * pi * x), math.cos(2 * pi * y),
    ]
    got = model.encoding(torch.tensor([[x, y]]))
    torch.testing.assert_close(got, torch.tensor([expected]))
    # Leading batch dims pass through.
    assert model.encoding(torch.zeros(3, 4, 2)).shape == (3, 4, 10)


def test_fourier_B_is_a_persistent_buffer_drawn_from_the_global_rng():
    torch.manual_seed(7)
    a = build_model("fourier", mapping_size=64, fourier_scale=3.0, hidden_features=8, hidden_layers=1)
    torch.manual_seed(7)
    b = build_model("fourier", mapping_size=64, fourier_scale=3.0, hidden_features=8, hidden_layers=1)
    c = build_model("fourier", mapping_size=64, fourier_scale=3.0, hidden_features=8, hidden_layers=1)
    assert "B" in a.state_dict() and "B" not in dict(a.named_parameters())
    assert a.state_dict()["B"].shape == (64, 2)
    assert torch.equal(a.B, b.B)
    assert not torch.equal(a.B, c.B)
    torch.manual_seed(7)
    torch.testing.assert_close(a.B, torch.randn(64, 2) * 3.0)
    # Loading a state_dict carries B over, so outputs match.
    c.load_state_dict(a.state_dict())
    coords = torch.rand(10, 2)
    torch.testing.assert_close(a(coords), c(coords))


def test_fourier_scale_sets_the_std_of_B_and_encoding_matches_formula():
    torch.manual_seed(0)
    model = build_model("fourier", mapping_size=4096, fourier_scale=10.0, hidden_features=8, hidden_layers=1)
    assert abs(model.B.std().item() / 10.0 - 1) < 0.05
    coords = torch.rand(5, 2) * 2 - 1
    proj = 2 * math.pi * coords.double() @ model.B.double().T
    expected = torch.cat((torch.cos(proj), torch.sin(proj)), dim=-1).float()
    torch.testing.assert_close(model.encode(coords), expected, atol=2e-4, rtol=0)


def test_rbf_values_and_gradients():
    torch.manual_seed(0)
    model = build_model("rbf", num_centres=5, rbf_sigma=2.0, hidden_features=8, hidden_layers=2)
    rbf = model.rbf
    assert rbf.centres.shape == (5, 2) and rbf.centres.abs().max() <= 1
    assert torch.all(rbf.sigmas == 2.0)
    x = torch.rand(6, 2) * 2 - 1
    expected = torch.exp(-(rbf.sigmas**2) * ((x[:, None, :] - rbf.centres[None]) ** 2).sum(-1))
    torch.testing.assert_close(rbf(x), expected)
    model(x).pow(2).sum().backward()
    for param in (rbf.centres, rbf.sigmas):
        assert param.grad is not None and param.grad.abs().sum() > 0
    # hidden_layers=2: one Linear+ReLU after the RBF layer, one more hidden, then the output layer.
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 3


def test_rbf_num_centres_defaults_to_width():
    model = build_model("rbf", hidden_features=12, hidden_layers=1)
    assert model_spec(model)[1]["num_centres"] == 12
    assert model.rbf.centres.shape == (12, 2)


@pytest.mark.parametrize("family, std_of", [("relu", lambda fi, fo: math.sqrt(2 / fi)),
                                            ("tanh", lambda fi, fo: math.sqrt(2 / (fi + fo)))])
def test_relu_kaiming_and_tanh_xavier_init(family, std_of):
    torch.manual_seed(0)
    model = build_model(family, hidden_features=256, hidden_layers=2)
    hidden = [m for m in model.modules() if isinstance(m, nn.Linear)][1]
    assert abs(hidden.weight.std().item() / std_of(256, 256) - 1) < 0.03
    activation = nn.ReLU if family == "relu" else nn.Tanh
    assert sum(isinstance(m, activation) for m in model.modules()) == 3
