"""Shared helpers for the model tests: every registered family, with small hyperparameters."""

from __future__ import annotations

import pytest

from siren_inr.models import list_models

# Extra settings that keep a family small and fast (or give nerf its frequency source). A family that is
# not listed here is tested with the common small sizes alone: the cross-family tests take the families
# from the registry, so a new family can never skip them.
SMALL = {
    "nerf": {"sidelength": 32},
    "rbf": {"num_centres": 64},
    "fourier": {"mapping_size": 16, "fourier_scale": 2.0},
    "siren_pe": {"num_frequencies": 2},
    "hash_grid": {"num_levels": 4, "log2_table_size": 8, "base_resolution": 4, "finest_resolution": 32},
    # WIRE's default window s_0 = 30 is the authors' setting for detailed images; the tests' tiny smooth
    # signals need a wider one to make progress in a few dozen steps.
    "wire": {"scale_0": 10.0},
}


@pytest.fixture(params=list_models())
def family(request: pytest.FixtureRequest) -> str:
    """Each registered family name, one test instance per family."""
    return request.param


@pytest.fixture
def small_hparams():
    """A function giving tiny network hyperparameters for a family name, with overrides."""

    def make(name: str, **overrides: object) -> dict:
        return {"hidden_features": 32, "hidden_layers": 2, "out_features": 3, **SMALL.get(name, {}), **overrides}

    return make



@pytest.fixture
def small_settings() -> dict:
    """The per-family extra settings above (checked against the registry)."""
    return SMALL
