"""The latent codec's pixel side (format version 3): a learned upsampling cascade and a convolutional synthesis.

Upsampling runs coarse to fine. Starting from the coarsest grid, each of the levels - 1 steps upsamples every
channel stacked so far x2 with that step's learned 8-tap separable symmetric transposed filter (4 free taps,
starting at the bicubic x2 taps, replicate padding, cropped to the finer grid's size), and stacks the next finer
grid after that step's learned 7-tap separable symmetric residual filter (x + filter(x), 4 free taps starting at
zero). The result: one channel per grid at full size.

The synthesis maps those channels to the image with 1x1 and 3x3 convolutions (replicate padding): a preset lists
its layers as (width, kernel, residual, activated); a linear 1x1 "stabiliser" from the input is added to the
output, and a fixed 0.5 centres the output in [0, 1]. The activation is a ReLU or a sine, sin(omega * x): the
project's question of whether a SIREN-style synthesis helps, asked of a latent-grid codec. Weights start small
(uniform in +-sqrt(1 / (inputs * kernel^2)) / outputs^2), residual layers and biases at zero, so the output starts
near 0.5 and inside [0, 1], where the training's clamp passes gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from siren_inr.errors import SirenInrError

ACTIVATIONS = ("relu", "sine")
BICUBIC_X2_TAPS = (-0.03515625, -0.10546875, 0.26171875, 0.87890625)  # half of the 8-tap x2 filter (a = -0.75)
OUTPUT_OFFSET = 0.5


@dataclass(frozen=True)
class Preset:
    """A decoder-cost preset: the ARM's context and inter-grid features, the synthesis layers."""

    context: int
    features: int
    layers: tuple[tuple[int | None, int, bool, bool], ...]  # (width (None: the image's channels), kernel,
    # residual, activated)


# About 500, 1,000 and 2,000 multiplications per decoded pixel (reported exactly by the codec).
PRESETS = {
    "lop": Preset(6, 2, ((8, 1, False, True), (None, 1, False, False), (None, 3, True, False))),
    "mop": Preset(10, 4, ((16, 1, False, True), (None, 1, False, False), (None, 3, True, True),
                          (None, 3, True, False))),
    "hop": Preset(14, 6, ((48, 1, False, True), (None, 1, False, False), (None, 3, True, True),
                          (None, 3, True, False))),
}


def symmetric(half: torch.Tensor, odd: bool) -> torch.Tensor:
    """The full symmetric filter from its first half ([a, b, c, d] -> [a, b, c, d, c, b, a] or ...d, d, c...)."""
    return torch.cat([half, half.flip(0)[1:] if odd else half.flip(0)])


class Upsampler(nn.Module):
    """The learned coarse-to-fine cascade: grids (finest first) -> [levels, H, W], coarsest channel first."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        steps = levels - 1
        self.up_taps = nn.Parameter(torch.tensor([BICUBIC_X2_TAPS] * steps))
        self.pre_taps = nn.Parameter(torch.zeros(steps, 4))

    @staticmethod
    def _up2_axis(x: torch.Tensor, taps: torch.Tensor, dim: int, size: int) -> torch.Tensor:
        """x2 along `dim` (-2 or -1) by the symmetric 8-tap filter [a, b, c, d, d, c, b, a], in its two phases:
        out[2i] = a x[i-2] + c x[i-1] + d x[i] + b x[i+1], out[2i+1] = b x[i-1] + d x[i] + c x[i+1] + a x[i+2]
        (bicubic x2 with align_corners=False at the initial taps), borders replicated, cropped to `size`."""
        n = x.shape[dim]
        pad = (0, 0, 2, 2) if dim == -2 else (2, 2, 0, 0)
        xp = F.pad(x, pad, mode="replicate")
        s = [xp.narrow(dim, i, n) for i in range(5)]  # s[i][j] = x[j - 2 + i]
        a, b, c, d = taps
        even = a * s[0] + c * s[1] + d * s[2] + b * s[3]
        odd = b * s[1] + d * s[2] + c * s[3] + a * s[4]
        both = torch.stack([even, odd], dim=dim)  # [..., n, 2, ...] interleaves the phases
        shape = list(x.shape)
        shape[dim] = 2 * n
        return both.reshape(shape).narrow(dim, 0, size)

    def _up2(self, x: torch.Tensor, taps: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        return self._up2_axis(self._up2_axis(x, taps, -2, rows), taps, -1, cols)

    @staticmethod
    def _prefilter(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        """x + the separable symmetric 7-tap filter [a, b, c, d, c, b, a] of x (borders replicated)."""
        a, b, c, d = taps
        y = x
        for dim, pad in ((-2, (0, 0, 3, 3)), (-1, (3, 3, 0, 0))):
            n = y.shape[dim]
            yp = F.pad(y, pad, mode="replicate")
            s = [yp.narrow(dim, i, n) for i in range(7)]
            y = a * (s[0] + s[6]) + b * (s[1] + s[5]) + c * (s[2] + s[4]) + d * s[3]
        return x + y

    def forward(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """[levels, H, W] features at the finest grid's size."""
        x = grids[-1][None, None]  # [channels, 1, rows, cols]: the cascade filters every channel alike
        for step, level in enumerate(range(len(grids) - 2, -1, -1)):
            rows, cols = grids[level].shape
            x = self._up2(x, self.up_taps[step], rows, cols)
            x = torch.cat([x, self._prefilter(grids[level][None, None], self.pre_taps[step])], dim=0)
        return x[:, 0]

    def multiplications(self, shapes: list[tuple[int, int]]) -> int:
        """Multiplications for one image: 4 taps per output sample and axis, 7 per pre-filter sample and axis."""
        total = 0
        for step, level in enumerate(range(len(shapes) - 2, -1, -1)):
            channels = step + 1
            rows, cols = shapes[level]
            coarse_cols = shapes[level + 1][1]
            total += channels * 4 * (rows * coarse_cols + rows * cols) + 2 * 7 * rows * cols
        return total


class Synthesis(nn.Module):
    """[levels, H, W] features -> [C, H, W] image (unclamped) by the preset's convolutions."""

    def __init__(self, levels: int, channels: int, preset: Preset, activation: str, omega: float) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise SirenInrError(f"latent synthesis={activation!r}; accepted: {', '.join(ACTIVATIONS)}")
        self.activation, self.omega = activation, omega
        self.layers = nn.ModuleList()
        self.residual, self.activated = [], []
        width = levels
        for out, kernel, residual, activated in preset.layers:
            out = channels if out is None else out
            if residual and out != width:
                raise SirenInrError(f"a residual synthesis layer must keep its width ({width} -> {out})")
            self.layers.append(nn.Conv2d(width, out, kernel, padding=kernel // 2, padding_mode="replicate"))
            self.residual.append(residual)
            self.activated.append(activated)
            width = out
        if width != channels:
            raise SirenInrError(f"the synthesis ends with {width} channels, the image has {channels}")
        self.stabiliser = nn.Conv2d(levels, channels, 1)
        with torch.no_grad():
            for layer, residual in zip([*self.layers, self.stabiliser], [*self.residual, False]):
                if residual:
                    layer.weight.zero_()
                else:
                    bound = math.sqrt(1.0 / (layer.in_channels * layer.kernel_size[0] ** 2)) / layer.out_channels**2
                    layer.weight.uniform_(-bound, bound)
                layer.bias.zero_()

    def _act(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) if self.activation == "relu" else torch.sin(self.omega * x)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """The image [C, H, W] before clamping."""
        x = features[None]
        h = x
        for layer, residual, activated in zip(self.layers, self.residual, self.activated):
            z = layer(h)
            h = z + h if residual else z
            if activated:
                h = self._act(h)
        return (h + self.stabiliser(x))[0] + OUTPUT_OFFSET

    def multiplications_per_pixel(self) -> int:
        """Multiplications of the convolutions (and the sine's omega) per output pixel."""
        total = sum(m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                    for m in [*self.layers, self.stabiliser])
        if self.activation == "sine":
            total += sum(layer.out_channels for layer, a in zip(self.layers, self.activated) if a)
        return total
