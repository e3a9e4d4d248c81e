"""Shared helpers for the model tests."""

from __future__ import annotations

import pytest

# Small, fast hyperparameters per family; nerf needs a frequency source.
SMALL = {
    "siren": {},
    "relu": {},
    "tanh": {},
    "nerf": {"sidelength": 32},
    "rbf": {"num_centres": 64},
    "mixed": {},
    "fourier": {"mapping_size": 16, "fourier_scale": 2.0},
}


@pytest.fixture(params=sorted(SMALL))
def family(request: pytest.FixtureRequest) -> str:
    """Each registered family name, one test instance per family."""
    return request.param


@pytest.fixture
def small_hparams():
    """A function giving tiny network hyperparameters for a family name, with overrides."""

    def make(name: str, **overrides: object) -> dict:
        return {"hidden_features": 32, "hidden_layers": 2, "out_features": 3, **SMALL[name], **overrides}

    return make
