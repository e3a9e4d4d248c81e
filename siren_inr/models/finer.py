"""FINER: variable-periodic sine activations (Liu et al., "FINER: Flexible spectral-bias tuning in Implicit
NEural Representation by Variable-periodic Activation Functions", CVPR 2024).

Each layer computes z = W x + b and then sin(omega_0 * (|z| + 1) * z): the local frequency grows with |z|,
so a unit whose pre-activation sits far from 0 oscillates faster. The factor (|z| + 1) is treated as a
constant in the backward pass (it is computed without gradient, as in the authors' code), so gradients are
those of a sine whose frequency is set per sample.

Initialisation (the paper's): weights as SIREN's (first layer U(-1/fan_in, 1/fan_in), the others
U(+-sqrt(6/fan_in)/omega_0)); the *first layer's bias* is drawn from U(-k, k) with a large k
(`first_bias_scale`, 20 by default, as in the reference implementations), which spreads the units over the
steep parts of the variable-periodic curve and so widens the spectrum the network starts with. The other
biases keep PyTorch's default U(+-1/sqrt(fan_in)). With few units a large k puts most of the first layer
above the pixel grid's Nyquist rate: at 40 units on a 256x256 image k = 1 fits far better than k = 20
(experiments/inr_families).
"""

from __future__ import annotations

import torch
from torch import nn

from siren_inr.models.base import InrModel, common_sizes, positive_float
from siren_inr.models.registry import register_model
from siren_inr.models.siren import init_sine_first_, init_sine_hidden_


def finer_activation(z: torch.Tensor, omega_0: float) -> torch.Tensor:
    """sin(omega_0 * (|z| + 1) * z), with (|z| + 1) held constant for the gradient."""
    return torch.sin(omega_0 * (z.detach().abs() + 1.0) * z)


class FinerLayer(nn.Module):
    """Linear then the variable-periodic sine; SIREN weight init, optional U(-k, k) bias init."""

    def __init__(self, in_features: int, out_features: int, omega_0: float, is_first: bool,
                 bias_scale: float | None = None) -> None:
        super().__init__()
        self.omega_0 = omega_0
        self.linear = nn.Linear(in_features, out_features)
        if is_first:
            init_sine_first_(self.linear)
        else:
            init_sine_hidden_(self.linear, omega_0)
        if bias_scale is not None:
            with torch.no_grad():
                self.linear.bias.uniform_(-bias_scale, bias_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return finer_activation(self.linear(x), self.omega_0)

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}"


@register_model("finer")
class Finer(InrModel):
    """A first FINER layer, `hidden_layers` FINER layers, then a linear output layer (SIREN hidden init)."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of every hidden layer
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        first_omega_0: float = 30.0,  # frequency factor of the first FINER layer
        hidden_omega_0: float = 30.0,  # frequency factor of the hidden FINER layers (also scales the output layer init)
        first_bias_scale: float = 20.0,  # k of the first layer's bias init U(-k, k) (the paper's;
                                         # larger = wider initial spectrum)
    ) -> None:
        super().__init__()
        name = "finer"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        first_omega_0 = positive_float("first_omega_0", first_omega_0, name)
        hidden_omega_0 = positive_float("hidden_omega_0", hidden_omega_0, name)
        first_bias_scale = positive_float("first_bias_scale", first_bias_scale, name)
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            first_omega_0=first_omega_0, hidden_omega_0=hidden_omega_0, first_bias_scale=first_bias_scale,
        )
        layers: list[nn.Module] = [FinerLayer(in_f, width, first_omega_0, is_first=True, bias_scale=first_bias_scale)]
        layers += [FinerLayer(width, width, hidden_omega_0, is_first=False) for _ in range(depth)]
        final = nn.Linear(width, out_f)
        init_sine_hidden_(final, hidden_omega_0)
        layers.append(final)
        self.net = nn.Sequential(*layers)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(coords)
