"""WIRE: complex Gabor wavelet activations (Saragadam et al., "WIRE: Wavelet Implicit Neural
Representations", CVPR 2023).

A layer maps its (complex) input to u = W x + b and applies the complex Gabor wavelet
psi(u) = exp(i omega_0 u) * exp(-|s_0 u|^2): a sinusoid of frequency omega_0 under a Gaussian window of
width 1/s_0, localised in space and in frequency. The first layer is real (real coordinates in, real
weights), the hidden and output layers are complex; the network's output is the real part of the last
(linear) layer.

Storage: every complex weight is kept as two real tensors (`weight_re`, `weight_im`), so the state_dict,
checkpoints and `.inr` files hold float tensors only and the codec quantizes real and imaginary parts as
ordinary weights; the arithmetic is the complex arithmetic written out,
(A + iB)(x + iy) = (Ax - By) + i(Bx + Ay), and exp(i w0 (a + ib)) = exp(-w0 b)(cos w0 a + i sin w0 a).
The output layer has no imaginary bias: it cannot reach the real part that is returned.

Initialisation (the paper's): PyTorch's default Linear init, real and imaginary parts each
U(+-1/sqrt(fan_in)) for weights and biases (what a complex nn.Linear draws).
Width: as in the paper, `hidden_features` is the width of a real network of about the same parameter
count; the complex layers have int(hidden_features / sqrt(2)) units, since each complex weight is two reals.
Defaults omega_0 = 20, s_0 = 30: the authors' suggestion for image representation (their code's INR
class defaults to 30 and 10; they suggest 4 and 4 for denoising). Their suggested Adam rates: 5e-3 to 2e-2.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from siren_inr.models.base import InrModel, common_sizes, positive_float
from siren_inr.models.registry import register_model


def complex_width(hidden_features: int) -> int:
    """Units of a complex layer standing in for `hidden_features` real ones (at least 1)."""
    return max(1, int(hidden_features / math.sqrt(2.0)))


def _default_uniform(*shape: int, fan_in: int) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class ComplexLinear(nn.Module):
    """u = W z + b on (re, im) pairs; W = weight_re + i weight_im, b = bias_re (+ i bias_im)."""

    def __init__(self, in_features: int, out_features: int, imaginary_bias: bool = True) -> None:
        super().__init__()
        self.weight_re = _default_uniform(out_features, in_features, fan_in=in_features)
        self.weight_im = _default_uniform(out_features, in_features, fan_in=in_features)
        self.bias_re = _default_uniform(out_features, fan_in=in_features)
        self.bias_im = _default_uniform(out_features, fan_in=in_features) if imaginary_bias else None

    def forward(self, re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out_re = re @ self.weight_re.T - im @ self.weight_im.T + self.bias_re
        out_im = re @ self.weight_im.T + im @ self.weight_re.T
        if self.bias_im is not None:
            out_im = out_im + self.bias_im
        return out_re, out_im

    def real(self, re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        """Only Re(W z + b) = weight_re re - weight_im im + bias_re (the output layer's)."""
        return re @ self.weight_re.T - im @ self.weight_im.T + self.bias_re


def gabor(re: torch.Tensor, im: torch.Tensor, omega_0: float, s_0: float) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(i omega_0 u - |s_0 u|^2) for u = re + i im, as (real, imaginary) parts."""
    envelope = torch.exp(-omega_0 * im - (s_0 * s_0) * (re * re + im * im))
    phase = omega_0 * re
    return envelope * torch.cos(phase), envelope * torch.sin(phase)


@register_model("wire")
class Wire(InrModel):
    """Real first Gabor layer, `hidden_layers` complex Gabor layers, complex linear output; returns its real part."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 256,  # width of the equivalent real network;
                                     # complex layers have int(hidden_features / sqrt(2)) units
        hidden_layers: int = 3,  # number of hidden (width -> width) layers between the input and output layers
        first_omega_0: float = 20.0,  # Gabor frequency omega_0 of the first (real) layer
        hidden_omega_0: float = 20.0,  # Gabor frequency omega_0 of the hidden (complex) layers
        scale_0: float = 30.0,  # Gabor window scale s_0 (larger = narrower window; 30 = the authors' image setting)
    ) -> None:
        super().__init__()
        name = "wire"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        self.first_omega_0 = positive_float("first_omega_0", first_omega_0, name)
        self.hidden_omega_0 = positive_float("hidden_omega_0", hidden_omega_0, name)
        self.scale_0 = positive_float("scale_0", scale_0, name)
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            first_omega_0=self.first_omega_0, hidden_omega_0=self.hidden_omega_0, scale_0=self.scale_0,
        )
        units = complex_width(width)
        self.first = nn.Linear(in_f, units)  # real: PyTorch's default init
        self.hidden = nn.ModuleList(ComplexLinear(units, units) for _ in range(depth))
        self.last = ComplexLinear(units, out_f, imaginary_bias=False)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features] (real part of the output)."""
        first = self.first(coords)
        re, im = gabor(first, torch.zeros_like(first), self.first_omega_0, self.scale_0)
        for layer in self.hidden:
            re, im = gabor(*layer(re, im), self.hidden_omega_0, self.scale_0)
        return self.last.real(re, im)
