"""SIREN fed by a positional (Fourier) encoding of the coordinates (Strümpler et al. 2022's INR codec network)."""

from __future__ import annotations

import torch

from siren_inr.models.base import InrModel, boolean, common_sizes, positive_float, positive_int
from siren_inr.models.nerf import PositionalEncoding
from siren_inr.models.registry import register_model
from siren_inr.models.siren import sine_mlp


@register_model("siren_pe")
class SirenPE(InrModel):
    """x -> [x, sin(2^i pi x), cos(2^i pi x)]_{i<L} -> SIREN (sine layers, linear output)."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 64,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        num_frequencies: int = 8,  # octaves L of the encoding (0 = a plain SIREN on x)
        first_omega_0: float = 30.0,  # omega_0 of the first sine layer (on the encoded coordinates)
        hidden_omega_0: float = 30.0,  # omega_0 of the hidden sine layers
        outermost_linear: bool = True,  # linear output layer (false: a sine output layer)
    ) -> None:
        super().__init__()
        name = "siren_pe"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        num_frequencies = positive_int("num_frequencies", num_frequencies, name, allow_zero=True)
        first_omega_0 = positive_float("first_omega_0", first_omega_0, name)
        hidden_omega_0 = positive_float("hidden_omega_0", hidden_omega_0, name)
        outermost_linear = boolean("outermost_linear", outermost_linear, name)
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            num_frequencies=num_frequencies, first_omega_0=first_omega_0, hidden_omega_0=hidden_omega_0,
            outermost_linear=outermost_linear,
        )
        self.encoding = PositionalEncoding(in_f, num_frequencies)
        self.net = sine_mlp(self.encoding.out_features, width, depth, out_f, first_omega_0, hidden_omega_0,
                            outermost_linear)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(self.encoding(coords))
