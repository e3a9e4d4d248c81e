"""NeRF-style positional encoding followed by a ReLU MLP."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from siren_inr.errors import SirenInrError
from siren_inr.models.base import InrModel, common_sizes, positive_int
from siren_inr.models.registry import register_model
from siren_inr.models.mlp import relu_mlp


def frequencies_for_sidelength(sidelength: int) -> int:
    """Number of octaves L = floor(log2(nyquist_rate)), nyquist_rate = 1 / (2 * (2 / sidelength)).

    Two samples per period over the [-1, 1] span (width 2) give that Nyquist rate; frequencies above it
    would alias on the pixel grid. Clamped at 0 for tiny images (sidelength < 4).
    """
    nyquist_rate = 1.0 / (2.0 * (2.0 * 1.0 / sidelength))
    return max(0, math.floor(math.log2(nyquist_rate)))


class PositionalEncoding(nn.Module):
    """x -> [x, sin(2^0 pi x), cos(2^0 pi x), ..., sin(2^(L-1) pi x), cos(2^(L-1) pi x)].

    Each sin/cos block covers all input coordinates, so the output has in_features * (1 + 2L) features,
    ordered: x (all coords), then for i = 0..L-1 sin(2^i pi x) (all coords) followed by cos(2^i pi x).
    """

    def __init__(self, in_features: int, num_frequencies: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.num_frequencies = num_frequencies
        # A non-persistent buffer: it is a pure function of num_frequencies, so checkpoints need not carry it.
        self.register_buffer("scales", math.pi * 2.0 ** torch.arange(num_frequencies), persistent=False)

    @property
    def out_features(self) -> int:
        """Encoded feature count."""
        return self.in_features * (1 + 2 * self.num_frequencies)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = x.unsqueeze(-2) * self.scales.to(x.dtype).unsqueeze(-1)  # [..., L, in]
        pairs = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-2)  # [..., L, 2, in]
        return torch.cat((x, pairs.flatten(-3)), dim=-1)


@register_model("nerf")
class NerfMLP(InrModel):
    """Positional encoding with `num_frequencies` octaves (or derived from `sidelength`), then a ReLU MLP."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        num_frequencies: int | None = None,  # octaves L of the encoding; null = derive from sidelength
                                             # (256 -> 6, 512 -> 7)
        sidelength: int | None = None,  # image side in pixels, used only when num_frequencies is null
                                        # (filled by the caller)
    ) -> None:
        super().__init__()
        name = "nerf"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        resolved: Any
        if sidelength is not None:
            sidelength = positive_int("sidelength", sidelength, name)
        if num_frequencies is not None:
            resolved = positive_int("num_frequencies", num_frequencies, name, allow_zero=True)
        elif sidelength is not None:
            resolved = frequencies_for_sidelength(sidelength)
        else:
            raise SirenInrError(
                "model 'nerf': give num_frequencies (a non-negative integer) or sidelength "
                "(the image side in pixels, from which the frequency count is derived); both are None"
            )
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            num_frequencies=resolved, sidelength=sidelength,
        )
        self.encoding = PositionalEncoding(in_f, resolved)
        self.net = relu_mlp(self.encoding.out_features, width, depth, out_f)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(self.encoding(coords))
