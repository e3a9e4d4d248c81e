"""Coordinate networks (torch only) and the registry that builds them by name."""

from siren_inr.models.registry import (build_model, default_hparams, hparams_for_image, list_models, model_spec,
                                       register_model)

# Imported for their side effect: each module registers its family with the registry.
from siren_inr.models import (  # noqa: E402,F401  isort: skip
    finer, fourier, gauss, hash_grid, mixed, nerf, rbf, relu, siren, siren_pe, tanh, wire,
)

__all__ = ["build_model", "default_hparams", "hparams_for_image", "list_models", "model_spec", "register_model"]
