"""ReLU MLP baseline on raw coordinates (its builder, `relu_mlp`, lives in mlp.py with the other heads')."""

from __future__ import annotations

import torch

from siren_inr.models.base import InrModel, common_sizes
from siren_inr.models.mlp import relu_mlp
from siren_inr.models.registry import register_model


@register_model("relu")
class ReluMLP(InrModel):
    """Plain ReLU MLP on raw coordinates (the spectral-bias baseline)."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
    ) -> None:
        super().__init__()
        in_f, out_f, width, depth = common_sizes("relu", in_features, out_features, hidden_features, hidden_layers)
        self._record_spec(in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth)
        self.net = relu_mlp(in_f, width, depth, out_f)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(coords)
