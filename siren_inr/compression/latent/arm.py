"""The latent codec's causal autoregressive entropy model (ARM): a Laplace per latent from its decoded neighbours.

Each latent of a grid is coded after its causal neighbours in the same grid (CONTEXT_OFFSETS, (row, column)
offsets, zero outside the grid) and after every coarser grid. One small network, shared by all grids, maps

    [the neighbours' values, the grid's inter-grid features]

to a Laplace (mean, log scale). The inter-grid features exist for the finest INTER_GRID_LEVELS grids: per such grid
a linear layer over the co-located values of all coarser grids (nearest neighbour at the parent grid's resolution),
repeated x2 to the grid; other grids get zeros there. The network: two residual ReLU layers of the input's width
(h <- relu(W h + b + h), W starting at zero), a linear output of 2 values plus a linear "stabiliser" straight from
the input. mean = o0, log scale = clamp(o1 - 4, -5, 5).

Training evaluates it in float on (noisy) latents, every position at once. Coding evaluates it in integer fixed
point (`IntegerArm`), identically in encoder and decoder and on any machine: weights are integers times 2**-k
(k <= 16) after quantization, so they become int64 with 16 fractional bits (biases 32) without rounding; latents
enter shifted left by 16; each layer is an int64 matrix product, a shift right by 16 and a clamp at 0; the output
is shifted to 8 fractional bits and indexes a fixed table of (mean, scale) pairs on a 1/256 grid. Integer sums do
not depend on summation order, so thread count and BLAS cannot change a coded model.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from siren_inr.compression.latent.entropy import laplace_bits
from siren_inr.errors import SirenInrError

# Causal neighbours in priority order; a context of n neighbours takes the first n.
CONTEXT_OFFSETS = ((0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-3, 0), (0, -3), (-1, -2), (-2, 1),
                   (-2, -1), (-1, 2), (-2, -2), (-1, -3), (-2, 2), (-3, 1), (0, -4), (-1, 3), (-2, -3), (-2, 3))
INTER_GRID_LEVELS = 3  # grids 0 (full size), 1 and 2 get inter-grid features
LATENT_MIN, LATENT_MAX = -64, 63  # the coded latents' range (the encoder clamps; training never reaches it)
LOG_SCALE_SHIFT = 4.0
LOG_SCALE_BOUND = 5.0
MIN_PROBABILITY = 2.0**-24  # the rate estimate's floor, the range coder's own (its probabilities have 24 bits)
FRACTION_BITS = 16  # fixed point of the integer ARM's activations and weights
OUTPUT_BITS = 8  # fixed point of its outputs: the (mean, log scale) table's grid is 1/256
MEAN_INDEX_BOUND = (LATENT_MAX + 1) * (1 << OUTPUT_BITS)  # mean index in [-bound, bound)
LOG_SCALE_INDEX_BOUND = int(LOG_SCALE_BOUND) * (1 << OUTPUT_BITS)
ACTIVATION_BOUND = 1 << 40  # integer activations are clamped here (never reached by a trained model)
# CRC32 of the scale table as this module computes it; a machine whose exp() rounds differently refuses to code
# rather than write or read a file another machine would decode differently.
SCALE_TABLE_CRC = 0x6D0EAFFE


def scale_table() -> np.ndarray:
    """scale[i] = exp((i - LOG_SCALE_INDEX_BOUND) / 256) rounded to float32 (then held as float64)."""
    values = [math.exp((i - LOG_SCALE_INDEX_BOUND) / (1 << OUTPUT_BITS)) for i in range(2 * LOG_SCALE_INDEX_BOUND + 1)]
    return np.asarray(values, dtype=np.float32).astype(np.float64)


_SCALES = scale_table()


def checked_scales() -> np.ndarray:
    """The scale table, after checking it is bit for bit the one every other machine uses."""
    crc = zlib.crc32(_SCALES.astype("<f8").tobytes())
    if crc != SCALE_TABLE_CRC:
        raise SirenInrError(f"this machine's exp() gives a different latent-codec scale table (CRC32 {crc:#010x}, "
                            f"expected {SCALE_TABLE_CRC:#010x}); its files would not decode elsewhere")
    return _SCALES


def wavefront_slope(offsets) -> int:
    """The smallest k such that every neighbour (dr, dc) has dc + k*dr < 0 or is to the left in the same row:
    then all latents with column + k*row = t can be decoded together, after every t' < t."""
    k = 1
    for dr, dc in offsets:
        if dr < 0:
            k = max(k, math.floor(dc / -dr) + 1)
    return k


def padding_of(offsets) -> tuple[int, int, int]:
    """(top, left, right) zero padding that holds every neighbour of every position."""
    return (max(0, -min(dr for dr, _ in offsets)), max(0, -min(dc for _, dc in offsets)),
            max(0, max(dc for _, dc in offsets)))


def coarser_inputs(levels: int, level: int) -> int:
    """Number of coarser grids feeding `level`'s inter-grid features (0: the grid has none)."""
    return levels - 1 - level if level < INTER_GRID_LEVELS else 0


def repeat_nearest(grid: torch.Tensor, factor: int, rows: int, cols: int) -> torch.Tensor:
    """grid [..., r, c] upsampled by `factor` (nearest neighbour: each value repeated) and cropped to rows x cols."""
    if factor == 1:
        return grid[..., :rows, :cols]
    *lead, r, c = grid.shape
    wide = grid[..., :, None, :, None].expand(*lead, r, factor, c, factor).reshape(*lead, r * factor, c * factor)
    return wide[..., :rows, :cols]


def nearest_rows(size: int, factor: int) -> np.ndarray:
    """Indices into a grid `factor` times coarser for each of `size` positions (nearest-neighbour upsampling)."""
    return np.arange(size) // factor


class Arm(nn.Module):
    """The float ARM and its inter-grid feature layers (what training uses and the file stores)."""

    def __init__(self, levels: int, context: int, features: int) -> None:
        super().__init__()
        if not 1 <= context <= len(CONTEXT_OFFSETS):
            raise SirenInrError(f"latent ARM context={context}; accepted: 1 to {len(CONTEXT_OFFSETS)}")
        self.levels, self.context, self.features = levels, context, features
        self.offsets = CONTEXT_OFFSETS[:context]
        width = context + features
        self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(2))
        self.out = nn.Linear(width, 2)
        self.stabiliser = nn.Linear(width, 2)
        inputs = [coarser_inputs(levels, level) for level in range(levels)]
        self.inter = nn.ModuleList(nn.Linear(n, features) for n in inputs if n and features)
        with torch.no_grad():
            for layer in self.hidden:  # residual layers start as the identity
                layer.weight.zero_()
                layer.bias.zero_()
            for layer in (self.out, self.stabiliser, *self.inter):
                layer.weight.normal_(0.0, 1.0 / layer.out_features**2)
                layer.bias.zero_()

    def multiplications_per_latent(self) -> int:
        """Multiplications of one (mean, scale) evaluation."""
        width = self.context + self.features
        return 2 * width * width + 4 * width

    def inter_multiplications(self, shapes: list[tuple[int, int]]) -> int:
        """Multiplications of all inter-grid feature layers for one image (they run at the parent's size)."""
        total = 0
        for level, layer in zip(range(self.levels), self.inter):
            rows, cols = shapes[level + 1]
            total += rows * cols * layer.in_features * layer.out_features
        return total

    # -- float evaluation (training, rate estimates) --

    def neighbours(self, grid: torch.Tensor) -> torch.Tensor:
        """[rows * cols, context]: each position's causal neighbours (zero outside the grid), row-major."""
        rows, cols = grid.shape
        top, left, right = padding_of(self.offsets)
        padded = F.pad(grid[None, None], (left, right, top, 0))[0, 0]
        shifted = [padded[top + dr : top + dr + rows, left + dc : left + dc + cols] for dr, dc in self.offsets]
        return torch.stack(shifted, dim=-1).reshape(rows * cols, self.context)

    def inter_features(self, level: int, grids: list[torch.Tensor]) -> torch.Tensor | None:
        """[rows * cols, features] of `level` from the coarser grids (finest-first list), or None."""
        if not self.features or coarser_inputs(self.levels, level) == 0:
            return None
        rows, cols = grids[level].shape
        parent_rows, parent_cols = grids[level + 1].shape
        columns = [repeat_nearest(grids[coarser], 1 << (coarser - level - 1), parent_rows, parent_cols)
                   for coarser in range(level + 1, self.levels)]
        parent = self.inter[level](torch.stack(columns, dim=-1))  # [parent_rows, parent_cols, features]
        upsampled = repeat_nearest(parent.permute(2, 0, 1), 2, rows, cols)  # [features, rows, cols]
        return upsampled.reshape(self.features, rows * cols).T

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log scale) of each row of inputs [n, context + features]."""
        h = x
        for layer in self.hidden:
            h = torch.relu(layer(h) + h)
        o = self.out(h) + self.stabiliser(x)
        return o[:, 0], (o[:, 1] - LOG_SCALE_SHIFT).clamp(-LOG_SCALE_BOUND, LOG_SCALE_BOUND)

    def latent_bits(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Estimated bits of every latent (all grids' latents, finest grid first, each row-major)."""
        inputs = []
        for level, grid in enumerate(grids):
            neighbours = self.neighbours(grid)
            if self.features:
                features = self.inter_features(level, grids)
                if features is None:
                    features = neighbours.new_zeros(neighbours.shape[0], self.features)
                neighbours = torch.cat([neighbours, features], dim=-1)
            inputs.append(neighbours)
        x = torch.cat(inputs)  # one evaluation for all grids: the small ones cost no extra kernel calls
        mean, log_scale = self(x)
        values = torch.cat([grid.reshape(-1) for grid in grids])
        return laplace_bits(values, mean, log_scale, MIN_PROBABILITY)

    def rate_bits(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Estimated bits of all grids (finest first) under the model."""
        return self.latent_bits(grids).sum()


@dataclass(frozen=True)
class IntegerArm:
    """The ARM in int64 fixed point, built from quantized weights: what the coder evaluates."""

    offsets: tuple[tuple[int, int], ...]
    features: int
    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]  # (W + I [in, out], b) at 16 / 32 fractional bits
    out: tuple[np.ndarray, np.ndarray]  # output and stabiliser weights stacked [2 * width, 2]; bias (32 bits)
    inter: tuple[tuple[np.ndarray, np.ndarray], ...]  # per level: ([inputs, features] 16 bits, bias 32 bits)

    @staticmethod
    def from_arm(arm: Arm) -> "IntegerArm":
        """Exact fixed-point copies of quantized weights (a weight that is not k/2**16 is an error)."""

        def fixed(t: torch.Tensor, bits: int) -> np.ndarray:
            scaled = t.detach().double().numpy() * float(1 << bits)
            ints = np.rint(scaled)
            if not np.array_equal(ints, scaled) or np.abs(ints).max(initial=0) >= 2.0**52:
                raise ValueError(f"an ARM weight is not a multiple of 2**-{bits}: quantize before coding")
            return ints.astype(np.int64)

        width = arm.context + arm.features
        identity = np.eye(width, dtype=np.int64) << FRACTION_BITS
        hidden = tuple((fixed(layer.weight.T, FRACTION_BITS) + identity, fixed(layer.bias, 2 * FRACTION_BITS))
                       for layer in arm.hidden)
        weights = np.concatenate([fixed(arm.out.weight.T, FRACTION_BITS),
                                  fixed(arm.stabiliser.weight.T, FRACTION_BITS)])
        bias = fixed(arm.out.bias, 2 * FRACTION_BITS) + fixed(arm.stabiliser.bias, 2 * FRACTION_BITS)
        bias[1] -= int(LOG_SCALE_SHIFT) << (2 * FRACTION_BITS)  # the log scale's -4, folded in
        inter = tuple((fixed(layer.weight.T, FRACTION_BITS), fixed(layer.bias, 2 * FRACTION_BITS))
                      for layer in arm.inter)
        return IntegerArm(tuple(arm.offsets), arm.features, hidden, (weights, bias), inter)

    def inter_features(self, level: int, grids: list[np.ndarray | None],
                       shape: tuple[int, int]) -> np.ndarray | None:
        """[rows * cols, features] of grid `level` (of `shape`) at 16 fractional bits (rounded to 8), from the
        decoded coarser integer grids."""
        if level >= len(self.inter):
            return None
        weight, bias = self.inter[level]
        parent_rows, parent_cols = grids[level + 1].shape
        columns = []
        for coarser in range(level + 1, level + 1 + weight.shape[0]):
            factor = 1 << (coarser - level - 1)
            columns.append(grids[coarser][nearest_rows(parent_rows, factor)][:, nearest_rows(parent_cols, factor)])
        values = np.stack(columns, axis=-1).reshape(-1, weight.shape[0]).astype(np.int64) << FRACTION_BITS
        parent = (values @ weight + bias) >> (2 * FRACTION_BITS - OUTPUT_BITS)  # 8 fractional bits
        parent = parent.reshape(parent_rows, parent_cols, -1)
        upsampled = parent[nearest_rows(shape[0], 2)][:, nearest_rows(shape[1], 2)]
        return upsampled.reshape(-1, weight.shape[1]) << (FRACTION_BITS - OUTPUT_BITS)

    def indices(self, neighbours: np.ndarray, features: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(mean index, log-scale index) on the 1/256 grid for int64 contexts [n, context] (+ features)."""
        x = neighbours.astype(np.int64) << FRACTION_BITS
        if self.features:
            if features is None:
                features = np.zeros((x.shape[0], self.features), dtype=np.int64)
            x = np.concatenate([x, features], axis=1)
        h = x
        for weight, bias in self.hidden:
            h = np.clip((h @ weight + bias) >> FRACTION_BITS, 0, ACTIVATION_BOUND)
        weights, bias = self.out
        o = (np.concatenate([h, x], axis=1) @ weights + bias) >> (2 * FRACTION_BITS - OUTPUT_BITS)
        means = np.clip(o[:, 0], -MEAN_INDEX_BOUND, MEAN_INDEX_BOUND - 1)
        log_scales = np.clip(o[:, 1], -LOG_SCALE_INDEX_BOUND, LOG_SCALE_INDEX_BOUND)
        return means, log_scales

    def laplace(self, neighbours: np.ndarray, features: np.ndarray | None,
                scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(means, scales) as float64 arrays for the range coder."""
        means, log_scales = self.indices(neighbours, features)
        return means / float(1 << OUTPUT_BITS), scales[log_scales + LOG_SCALE_INDEX_BOUND]
