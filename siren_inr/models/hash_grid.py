"""Multi-resolution hash encoding with a small ReLU MLP (Mueller et al., "Instant Neural Graphics Primitives
with a Multiresolution Hash Encoding", SIGGRAPH 2022), in plain PyTorch (no compiled extension).

The encoding has `num_levels` grids whose resolutions grow geometrically from `base_resolution` to
`finest_resolution`: N_l = floor(N_min * b^l), b = exp((ln N_max - ln N_min) / (L - 1)). Each level holds a
table of `features_per_level` learned features for at most 2^`log2_table_size` grid vertices. A level whose
(N_l + 1)^d vertices fit in the table indexes them one to one; a finer level hashes a vertex c to
(c_1 * 1 XOR c_2 * 2654435761 XOR c_3 * 805459861) mod T (the paper's spatial hash), so colliding vertices
share features and the MLP learns to resolve the collisions. A coordinate's features at a level are the
d-linear (bilinear in 2-D, trilinear in 3-D) interpolation of its cell's 2^d corner features; the levels'
features are concatenated and fed to the MLP.

Paper defaults: L = 16 levels, F = 2 features per level, T = 2^19, N_min = 16, table entries initialised
U(-1e-4, 1e-4); the MLP has two hidden layers of 64 ReLU units (`hidden_layers` = 1 width->width layer here,
after the input layer). `finest_resolution` = 512 covers images up to 512 pixels a side (the paper sets
N_max to the signal's resolution). The paper trains with Adam(lr 1e-2, betas (0.9, 0.99), eps 1e-15); here
the optimiser is the fit's, so pass a larger `optim.lr` than SIREN's.

Storage: each level's table is a [F, T_l] parameter (features x vertices), so the codec sees a wide
matrix and quantizes it with the ordinary bit depth, per feature row with per-channel scales.
Coordinates are expected in [-1, 1] (the pixel grid's span) and are clamped to it.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from siren_inr.errors import SirenInrError
from siren_inr.models.base import InrModel, common_sizes, positive_int
from siren_inr.models.mlp import relu_mlp
from siren_inr.models.registry import register_model

PRIMES = (1, 2654435761, 805459861)  # the paper's per-dimension hash primes (pi_1 = 1 for cache coherence)
MAX_LOG2_TABLE_SIZE = 24
INIT_RANGE = 1e-4


def level_resolutions(num_levels: int, base_resolution: int, finest_resolution: int) -> list[int]:
    """N_l = floor(N_min * b^l) with b chosen so that N_{L-1} = N_max (up to floor rounding)."""
    if num_levels == 1:
        return [base_resolution]
    growth = math.exp((math.log(finest_resolution) - math.log(base_resolution)) / (num_levels - 1))
    # The small epsilon keeps floor(N_min * b^(L-1)) at N_max despite float rounding.
    return [int(math.floor(base_resolution * growth**level + 1e-9)) for level in range(num_levels)]


class HashEncoding(nn.Module):
    """x in [-1, 1]^d -> [..., num_levels * features_per_level] interpolated multi-resolution features."""

    def __init__(self, in_features: int, num_levels: int, features_per_level: int, log2_table_size: int,
                 base_resolution: int, finest_resolution: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.table_size = 1 << log2_table_size
        self.resolutions = level_resolutions(num_levels, base_resolution, finest_resolution)
        self.dense = [(res + 1) ** in_features <= self.table_size for res in self.resolutions]
        sizes = [(res + 1) ** in_features if dense else self.table_size
                 for res, dense in zip(self.resolutions, self.dense)]
        self.tables = nn.ParameterList(
            nn.Parameter(torch.empty(features_per_level, size).uniform_(-INIT_RANGE, INIT_RANGE)) for size in sizes
        )
        # The 2^d corner offsets of a cell, [2^d, d], in {0, 1}.
        corners = torch.tensor(list(itertools.product((0, 1), repeat=in_features)), dtype=torch.int64)
        self.register_buffer("corners", corners.flip(-1), persistent=False)  # first coordinate varies fastest

    @property
    def out_features(self) -> int:
        return len(self.tables) * self.tables[0].shape[0]

    def vertex_index(self, vertices: torch.Tensor, level: int) -> torch.Tensor:
        """Table index of integer grid vertices [..., d] at `level`: one to one if dense, hashed otherwise."""
        if self.dense[level]:
            stride = self.resolutions[level] + 1
            index = torch.zeros(vertices.shape[:-1], dtype=torch.int64, device=vertices.device)
            for dim in reversed(range(self.in_features)):
                index = index * stride + vertices[..., dim]
            return index
        hashed = vertices[..., 0] * PRIMES[0]
        for dim in range(1, self.in_features):
            hashed = torch.bitwise_xor(hashed, vertices[..., dim] * PRIMES[dim])
        return torch.remainder(hashed, self.table_size)

    def level_features(self, coords: torch.Tensor, level: int) -> torch.Tensor:
        """[N, d] coordinates -> [N, F] features of one level (d-linear interpolation of the cell's corners)."""
        res = self.resolutions[level]
        position = (coords.clamp(-1.0, 1.0) + 1.0) * (0.5 * res)  # in [0, res]
        cell = position.floor().clamp(max=res - 1)
        frac = position - cell  # in [0, 1]
        vertices = cell.to(torch.int64).unsqueeze(-2) + self.corners  # [N, 2^d, d]
        index = self.vertex_index(vertices, level)  # [N, 2^d]
        # Corner weight: prod over dims of frac (offset 1) or 1 - frac (offset 0).
        offsets = self.corners.to(coords.dtype)
        weights = torch.where(offsets > 0, frac.unsqueeze(-2), 1.0 - frac.unsqueeze(-2)).prod(-1)  # [N, 2^d]
        table = self.tables[level]
        corner_features = table[:, index.reshape(-1)].reshape(table.shape[0], *index.shape)  # [F, N, 2^d]
        return (corner_features.to(coords.dtype) * weights).sum(-1).T  # [N, F]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        flat = coords.reshape(-1, self.in_features)
        encoded = torch.cat([self.level_features(flat, level) for level in range(len(self.tables))], dim=-1)
        return encoded.reshape(*coords.shape[:-1], encoded.shape[-1])


@register_model("hash_grid")
class HashGridMLP(InrModel):
    """Multi-resolution hash encoding, then a ReLU MLP (Kaiming init, the other encoding families' head)."""

    def __init__(
        self,
        in_features: int = 2,  # coordinate dimension (2 for images: bilinear interpolation; 3: trilinear)
        out_features: int = 1,  # output values per coordinate (the image's channels; the commands fill it)
        hidden_features: int = 64,  # width of the MLP's hidden layers (the paper's 64)
        hidden_layers: int = 1,  # width -> width layers after the input layer (1 = the paper's two hidden layers)
        num_levels: int = 16,  # L, number of grid resolutions
        features_per_level: int = 2,  # F, learned features per grid vertex and level
        log2_table_size: int = 19,  # T = 2^log2_table_size table entries per level at most (finer levels hash into it)
        base_resolution: int = 16,  # N_min, the coarsest grid's cells per side
        finest_resolution: int = 512,  # N_max, the finest grid's cells per side (levels grow geometrically in between)
    ) -> None:
        super().__init__()
        name = "hash_grid"
        in_f, out_f, width, depth = common_sizes(name, in_features, out_features, hidden_features, hidden_layers)
        if in_f > len(PRIMES):
            raise SirenInrError(f"model {name!r}: in_features must be at most {len(PRIMES)} (one hash prime per "
                                f"dimension), got {in_f}")
        levels = positive_int("num_levels", num_levels, name)
        features = positive_int("features_per_level", features_per_level, name)
        log2_size = positive_int("log2_table_size", log2_table_size, name)
        if log2_size > MAX_LOG2_TABLE_SIZE:
            raise SirenInrError(f"model {name!r}: log2_table_size must be a positive integer at most "
                                f"{MAX_LOG2_TABLE_SIZE}, got {log2_size}")
        base = positive_int("base_resolution", base_resolution, name)
        finest = positive_int("finest_resolution", finest_resolution, name)
        if finest < base:
            raise SirenInrError(f"model {name!r}: finest_resolution must be >= base_resolution={base}, got {finest}")
        self._record_spec(
            in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth,
            num_levels=levels, features_per_level=features, log2_table_size=log2_size,
            base_resolution=base, finest_resolution=finest,
        )
        self.encoding = HashEncoding(in_f, levels, features, log2_size, base, finest)
        self.net = relu_mlp(self.encoding.out_features, width, depth, out_f)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(self.encoding(coords))
