"""Gaussian activations (Ramasinghe & Lucey, "Beyond Periodicity: Towards a Unifying Framework for
Activations in Coordinate-MLPs", ECCV 2022).

Every hidden unit computes exp(-z^2 / (2 sigma^2)) of its pre-activation z = W x + b. The paper shows that
such non-periodic activations, with a small enough sigma, fit high frequencies without positional
encoding, and that they need no special initialisation: the weights and biases keep PyTorch's default
U(+-1/sqrt(fan_in)) (what the paper and the WIRE/FINER baselines use). sigma sets the bandwidth
(smaller = sharper bumps = higher frequencies); 0.1 by default, the scale at which a 2-D coordinate MLP
resolves detail at a few hundred pixels (the paper tunes it per task).
"""

from __future__ import annotations

import torch
from torch import nn

from siren_inr.models.base import InrModel, common_sizes, positive_float
from siren_inr.models.mlp import mlp
from siren_inr.models.registry import register_model


class GaussianActivation(nn.Module):
    """x -> exp(-x^2 / (2 sigma^2))."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-(x * x) / (2.0 * self.sigma**2))

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


@register_model("gauss")
class GaussMLP(InrModel):
    """Linear+Gaussian into the width, `hidden_layers` Linear+Gaussian layers, then a linear output."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        sigma: float = 0.1,  # width of the Gaussian (smaller = sharper bumps = higher frequencies)
    ) -> None:
        super().__init__()
        name = "gauss"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        sigma = positive_float("sigma", sigma, name)
        self._record_spec(in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
                          sigma=sigma)
        # No init_: PyTorch's default Linear init is the paper's.
        self.net = mlp([in_f, *[width] * (depth + 1), out_f], lambda: GaussianActivation(sigma))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(coords)
