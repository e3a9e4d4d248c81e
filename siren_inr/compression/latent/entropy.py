"""The latent codec's entropy model: a Laplace per latent from already-decoded context, coded in 2 passes a level.

Levels are coded coarsest first. Within a level, the anchors of a checkerboard ((row + column) even) come
first, their context being the coarser level (bilinearly upsampled to this grid) alone; then the other
half, whose context adds their four anchor neighbours. One small MLP maps a context

    [north, south, west, east (0 for anchors), parent, 1 for the second pass]

to a Laplace (mean, log scale), plus a learned offset per level and pass. Decoding therefore takes
2 x levels vectorised passes, never a Python step per latent.

The coded means and scales are rounded to a grid (MEAN_STEP, LOG_SCALE_STEP): encoder and decoder compute
them with the same code on the same inputs, and the rounding keeps a last-bit float difference (another
thread count, another BLAS) from changing the model the range coder sees.
"""

from __future__ import annotations

import math

import constriction
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from siren_inr.errors import SirenInrError

CONTEXT_FEATURES = 6
MEAN_STEP = 1.0 / 32
LOG_SCALE_STEP = 1.0 / 16
MIN_LOG_SCALE, MAX_LOG_SCALE = math.log(0.02), math.log(256.0)
MIN_PROBABILITY = 2.0**-24


def checkerboard(rows: int, cols: int, device=None) -> torch.Tensor:
    """Boolean [rows, cols] mask of the first pass's anchors: (row + column) even."""
    r = torch.arange(rows, device=device)[:, None]
    c = torch.arange(cols, device=device)[None, :]
    return (r + c) % 2 == 0


class ContextEntropyModel(nn.Module):
    """context [..., 6] -> Laplace (mean, log scale) per latent; an offset per (level, pass)."""

    def __init__(self, levels: int, hidden: int) -> None:
        super().__init__()
        self.levels = levels
        self.hidden = hidden
        self.net = nn.Sequential(nn.Linear(CONTEXT_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        self.offsets = nn.Parameter(torch.zeros(levels, 2, 2))  # [level, pass, (mean, log scale)]
        with torch.no_grad():
            self.net[2].weight.mul_(0.1)
            self.net[2].bias.zero_()

    def multiplications_per_position(self) -> int:
        """Multiplications of one context -> (mean, scale) evaluation (parent upsampling included)."""
        return CONTEXT_FEATURES * self.hidden + self.hidden * 2 + 4  # the MLP, the parent's bilinear taps

    def contexts(self, grid: torch.Tensor, parent: torch.Tensor) -> torch.Tensor:
        """[rows, cols, 6]: both passes' contexts on every position (anchor neighbours zeroed for pass one)."""
        rows, cols = grid.shape
        anchors = checkerboard(rows, cols, grid.device)
        known = torch.where(anchors, grid, torch.zeros_like(grid))  # only anchors are known in pass two
        padded = F.pad(known[None, None], (1, 1, 1, 1))[0, 0]
        second = (~anchors).to(grid.dtype)
        neighbours = [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
        features = [n * second for n in neighbours] + [parent, second]
        return torch.stack(features, dim=-1)

    def parameters_of(self, level: int, grid: torch.Tensor, parent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Laplace (mean, log scale) [rows, cols] of every latent of `level` given its grid and parent."""
        rows, cols = grid.shape
        out = self.net(self.contexts(grid, parent))  # [rows, cols, 2]
        pass_index = (~checkerboard(rows, cols, grid.device)).long()
        out = out + self.offsets[level][pass_index]
        mean = out[..., 0]
        log_scale = out[..., 1].clamp(MIN_LOG_SCALE, MAX_LOG_SCALE)
        return mean, log_scale

    def parameters_at(self, level: int, grid: torch.Tensor, parent: torch.Tensor,
                      second_pass: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """`parameters_of` at one pass's positions only (flat, row-major): what the coder evaluates."""
        rows, cols = grid.shape
        anchors = checkerboard(rows, cols, grid.device)
        mask = ~anchors if second_pass else anchors
        count = int(mask.sum())
        if second_pass:
            known = torch.where(anchors, grid, torch.zeros_like(grid))
            padded = F.pad(known[None, None], (1, 1, 1, 1))[0, 0]
            neighbours = [padded[:-2, 1:-1][mask], padded[2:, 1:-1][mask], padded[1:-1, :-2][mask],
                          padded[1:-1, 2:][mask]]
        else:
            neighbours = [torch.zeros(count)] * 4
        flag = torch.full((count,), 1.0 if second_pass else 0.0)
        out = self.net(torch.stack(neighbours + [parent[mask], flag], dim=-1)) + self.offsets[level][int(second_pass)]
        return out[:, 0], out[:, 1].clamp(MIN_LOG_SCALE, MAX_LOG_SCALE)


def parent_of(coarser: torch.Tensor | None, shape: tuple[int, int], device: torch.device | None = None) -> torch.Tensor:
    """The coarser level bilinearly upsampled to `shape` (zeros on `device`, default the CPU, for the coarsest)."""
    if coarser is None:
        return torch.zeros(shape, device=device)
    return F.interpolate(coarser[None, None], size=shape, mode="bilinear", align_corners=False)[0, 0]


def laplace_bits(y: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                 min_probability: float = MIN_PROBABILITY) -> torch.Tensor:
    """-log2 P(y) of the unit-bin quantized Laplace(mean, exp(log_scale)), computed without cancellation; a
    probability is floored at `min_probability`."""
    scale = torch.exp(log_scale)
    d = (y - mean).abs()
    # Bin away from the mean: 0.5 exp(-(d - 1/2)/b) (1 - exp(-1/b)).
    log_tail = math.log(0.5) - (d - 0.5).clamp_min(0.0) / scale + torch.log(-torch.expm1(-1.0 / scale))
    # Bin holding the mean: 1 - 0.5 exp(-(1/2 - d)/b) - 0.5 exp(-(1/2 + d)/b).
    inner = 1.0 - 0.5 * torch.exp(-(0.5 - d).clamp_min(0.0) / scale) - 0.5 * torch.exp(-(0.5 + d) / scale)
    log_inner = torch.log(inner.clamp_min(min_probability))
    log_p = torch.where(d >= 0.5, log_tail, log_inner).clamp_min(math.log(min_probability))
    return -log_p / math.log(2.0)


def rate_bits(model: ContextEntropyModel, latents: list[torch.Tensor]) -> torch.Tensor:
    """Estimated bits of (noisy or quantized) latents, finest first, under the model (differentiable)."""
    total = torch.zeros((), device=latents[0].device)
    for level in range(len(latents) - 1, -1, -1):
        grid = latents[level]
        coarser = latents[level + 1] if level + 1 < len(latents) else None
        mean, log_scale = model.parameters_of(level, grid, parent_of(coarser, tuple(grid.shape), grid.device))
        total = total + laplace_bits(grid, mean, log_scale).sum()
    return total


def _coded(mean: torch.Tensor, log_scale: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    m = np.rint(mean.double().numpy() / MEAN_STEP) * MEAN_STEP
    s = np.exp(np.rint(log_scale.double().numpy() / LOG_SCALE_STEP) * LOG_SCALE_STEP)
    return m, s


def coded_bits(symbols: np.ndarray, means: np.ndarray, scales: np.ndarray) -> float:
    """-log2 of the probability the coded (rounded) model gives these symbols: the ideal code length."""
    bits = laplace_bits(torch.from_numpy(symbols.astype(np.float64)), torch.from_numpy(means),
                        torch.log(torch.from_numpy(scales)))
    return float(bits.sum())


@torch.no_grad()
def encode_latents(model: ContextEntropyModel, latents: list[torch.Tensor], low: int, high: int) -> tuple[bytes, float]:
    """Range-code integer latents (finest first) in 2 passes a level; (bytes, ideal bits under the coded model)."""
    family = constriction.stream.model.QuantizedLaplace(low, high)
    encoder = constriction.stream.queue.RangeEncoder()
    ideal = 0.0
    for level in range(len(latents) - 1, -1, -1):
        grid = latents[level].float()
        coarser = latents[level + 1].float() if level + 1 < len(latents) else None
        parent = parent_of(coarser, tuple(grid.shape))
        anchors = checkerboard(*grid.shape)
        for second, mask, known in ((False, anchors, torch.zeros_like(grid)),
                                    (True, ~anchors, torch.where(anchors, grid, 0.0))):
            if not mask.any():
                continue
            means, scales = _coded(*model.parameters_at(level, known, parent, second))
            symbols = grid[mask].numpy().astype(np.int32)
            encoder.encode(symbols, family, means, scales)
            ideal += coded_bits(symbols, means, scales)
    return encoder.get_compressed().astype("<u4").tobytes().rstrip(b"\x00"), ideal


@torch.no_grad()
def decode_latents(model: ContextEntropyModel, data: bytes, shapes: list[tuple[int, int]], low: int,
                   high: int) -> list[torch.Tensor]:
    """Inverse of `encode_latents`: the integer latent grids (float32, finest first)."""
    family = constriction.stream.model.QuantizedLaplace(low, high)
    padded = data + b"\x00" * (-len(data) % 4)
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(padded, dtype="<u4").astype(np.uint32))
    grids: list[torch.Tensor | None] = [None] * len(shapes)
    try:
        for level in range(len(shapes) - 1, -1, -1):
            grid = torch.zeros(shapes[level])
            parent = parent_of(grids[level + 1] if level + 1 < len(shapes) else None, shapes[level])
            anchors = checkerboard(*shapes[level])
            for second, mask in ((False, anchors), (True, ~anchors)):
                if not mask.any():
                    continue
                means, scales = _coded(*model.parameters_at(level, grid, parent, second))
                grid[mask] = torch.from_numpy(decoder.decode(family, means, scales).astype(np.float32))
            grids[level] = grid
    except (AssertionError, ValueError, RuntimeError, OverflowError) as err:
        raise SirenInrError(f"latent block is damaged: the entropy decoder rejects it ({err})") from None
    return grids  # type: ignore[return-value]
