"""Gaussian radial-basis-function input layer with learned centres and widths, then a ReLU MLP."""

from __future__ import annotations

import torch
from torch import nn

from siren_inr.models.base import InrModel, common_sizes, positive_float, positive_int
from siren_inr.models.registry import register_model
from siren_inr.models.mlp import relu_mlp


class GaussianRBF(nn.Module):
    """phi_k(x) = exp(-sigma_k^2 * ||x - c_k||^2) with learned centres c_k and inverse widths sigma_k."""

    def __init__(self, in_features: int, num_centres: int, sigma_init: float) -> None:
        super().__init__()
        # Centres start uniform over the [-1, 1] coordinate box so every region has nearby bases.
        self.centres = nn.Parameter(torch.empty(num_centres, in_features).uniform_(-1.0, 1.0))
        self.sigmas = nn.Parameter(torch.full((num_centres,), sigma_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centres = self.centres.to(x.dtype)
        # ||x||^2 - 2 x.c + ||c||^2 needs [..., K] memory, not the [..., K, in] of broadcasting x - c.
        sq_dist = (x * x).sum(-1, keepdim=True) - 2.0 * (x @ centres.T) + (centres * centres).sum(-1)
        return torch.exp(-(self.sigmas.to(x.dtype) ** 2) * sq_dist.clamp_min(0.0))


@register_model("rbf")
class RbfMLP(InrModel):
    """An RBF layer of `num_centres` Gaussians replaces the first Linear+activation, then a ReLU MLP.

    Layout: RBF(in -> num_centres), Linear(num_centres -> width)+ReLU, (hidden_layers - 1) x
    Linear(width -> width)+ReLU, Linear(width -> out). With num_centres = hidden_features this has the
    same count of width-sized layers as the relu family of equal `hidden_layers`.
    """

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        num_centres: int | None = None,  # number of Gaussians; null = hidden_features
        rbf_sigma: float = 10.0,  # initial inverse width sigma of every Gaussian (learned afterwards)
    ) -> None:
        super().__init__()
        name = "rbf"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        centres = width if num_centres is None else positive_int("num_centres", num_centres, name)
        rbf_sigma = positive_float("rbf_sigma", rbf_sigma, name)
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            num_centres=centres, rbf_sigma=rbf_sigma,
        )
        self.rbf = GaussianRBF(in_f, centres, rbf_sigma)
        self.net = relu_mlp(centres, width, depth - 1, out_f)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(self.rbf(coords))
