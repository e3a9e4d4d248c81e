"""Mixed network: a SIREN first layer (sine, SIREN init) feeding tanh hidden layers and a linear output."""

from __future__ import annotations

import torch
from torch import nn

from siren_inr.models.base import InrModel, common_sizes, positive_float
from siren_inr.models.mlp import init_xavier_, mlp
from siren_inr.models.registry import register_model
from siren_inr.models.siren import SineLayer


@register_model("mixed")
class MixedSineTanh(InrModel):
    """Sine first layer (first_omega_0, SIREN first-layer init), `hidden_layers` Xavier tanh layers, linear out."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        first_omega_0: float = 30.0,  # frequency factor of the first (sine) layer
    ) -> None:
        super().__init__()
        name = "mixed"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        first_omega_0 = positive_float("first_omega_0", first_omega_0, name)
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            first_omega_0=first_omega_0,
        )
        first = SineLayer(in_f, width, first_omega_0, is_first=True)
        body = mlp([*[width] * (depth + 1), out_f], nn.Tanh, init_xavier_)
        self.net = nn.Sequential(first, *body)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(coords)
