"""SIREN: an MLP with sine activations sin(omega_0 * (W x + b)) and the init that keeps them well-behaved."""

from __future__ import annotations

import math

import torch
from torch import nn

from siren_inr.models.base import InrModel, boolean, common_sizes, positive_float
from siren_inr.models.registry import register_model


def init_sine_first_(linear: nn.Linear) -> None:
    """First-layer SIREN init: weights U(-1/fan_in, 1/fan_in); omega_0 then spreads inputs over many periods."""
    bound = 1.0 / linear.in_features
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)


def init_sine_hidden_(linear: nn.Linear, omega_0: float) -> None:
    """Hidden-layer SIREN init: U(+-sqrt(6/fan_in)/omega_0), so omega_0*(Wx) has unit variance for sine inputs."""
    bound = math.sqrt(6.0 / linear.in_features) / omega_0
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)


class SineLayer(nn.Module):
    """sin(omega_0 * (W x + b)); biases keep PyTorch's default init."""

    def __init__(self, in_features: int, out_features: int, omega_0: float, is_first: bool) -> None:
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(in_features, out_features)
        if is_first:
            init_sine_first_(self.linear)
        else:
            init_sine_hidden_(self.linear, omega_0)

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """omega_0 * (W x + b), the argument of the sine."""
        return self.omega_0 * self.linear(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.pre_activation(x))

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}"


def sine_mlp(in_features: int, hidden_features: int, hidden_layers: int, out_features: int,
             first_omega_0: float, hidden_omega_0: float, outermost_linear: bool) -> nn.Sequential:
    """The SIREN body (siren, siren_pe): a first sine layer, `hidden_layers` sine layers, a linear or sine output.

    Layers are created and initialised in order, so a seed gives the same weights as it always has.
    """
    layers: list[nn.Module] = [SineLayer(in_features, hidden_features, first_omega_0, is_first=True)]
    layers += [SineLayer(hidden_features, hidden_features, hidden_omega_0, is_first=False)
               for _ in range(hidden_layers)]
    if outermost_linear:
        # Initialised like a hidden layer (with the hidden omega_0) so outputs start at a small scale.
        final = nn.Linear(hidden_features, out_features)
        init_sine_hidden_(final, hidden_omega_0)
        layers.append(final)
    else:
        layers.append(SineLayer(hidden_features, out_features, hidden_omega_0, is_first=False))
    return nn.Sequential(*layers)


@register_model("siren")
class Siren(InrModel):
    """SIREN: a first sine layer, `hidden_layers` sine layers, then a linear (or sine) output layer."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        first_omega_0: float = 30.0,  # frequency factor of the first sine layer (larger = finer detail at init)
        hidden_omega_0: float = 30.0,  # frequency factor of the hidden sine layers (also scales the output layer init)
        outermost_linear: bool = True,  # linear output layer (true) or a sine output layer (false)
    ) -> None:
        super().__init__()
        name = "siren"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        first_omega_0 = positive_float("first_omega_0", first_omega_0, name)
        hidden_omega_0 = positive_float("hidden_omega_0", hidden_omega_0, name)
        outermost_linear = boolean("outermost_linear", outermost_linear, name)
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            first_omega_0=first_omega_0, hidden_omega_0=hidden_omega_0, outermost_linear=outermost_linear,
        )
        self.net = sine_mlp(in_f, width, depth, out_f, first_omega_0, hidden_omega_0, outermost_linear)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(coords)
