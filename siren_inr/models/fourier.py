"""Gaussian random Fourier features followed by a ReLU MLP."""

from __future__ import annotations

import math

import torch

from siren_inr.models.base import InrModel, common_sizes, positive_float, positive_int
from siren_inr.models.registry import register_model
from siren_inr.models.mlp import relu_mlp


@register_model("fourier")
class FourierFeatureMLP(InrModel):
    """gamma(x) = [cos(2 pi B x), sin(2 pi B x)] with B ~ N(0, fourier_scale^2), then a ReLU MLP."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        fourier_scale: float = 10.0,  # standard deviation sigma of B ~ N(0, sigma^2); larger = higher frequencies
        mapping_size: int = 256,  # rows of B (the encoding has 2 * mapping_size features)
    ) -> None:
        super().__init__()
        name = "fourier"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        fourier_scale = positive_float("fourier_scale", fourier_scale, name)
        mapping_size = positive_int("mapping_size", mapping_size, name)
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            fourier_scale=fourier_scale, mapping_size=mapping_size,
        )
        # B is random, not learned, and not derivable from the spec: a persistent buffer so that a
        # state_dict (checkpoint, .inr file) carries it. Drawn from the global RNG so seeding reproduces it.
        self.register_buffer("B", torch.randn(mapping_size, in_f) * fourier_scale, persistent=True)
        self.net = relu_mlp(2 * mapping_size, width, depth, out_f)

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """[..., in_features] -> [..., 2 * mapping_size] Fourier features."""
        projected = 2.0 * math.pi * (coords @ self.B.to(coords.dtype).T)
        return torch.cat((torch.cos(projected), torch.sin(projected)), dim=-1)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(self.encode(coords))
