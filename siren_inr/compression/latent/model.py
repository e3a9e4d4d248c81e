"""The latent codec's decoder networks: latent grids -> upsampled per-pixel features -> synthesis -> refinement."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from siren_inr.compression.latent.entropy import ContextEntropyModel
from siren_inr.validation import check_choice, check_int, check_positive_int
from siren_inr.models import build_model

UPSAMPLING_MODES = ("bilinear", "bicubic")
MAX_LEVELS = 10
SYNTHESIS_ARCHS = ("relu", "siren", "tanh")


@dataclass(frozen=True)
class LatentGrids:
    """The image's size and its pyramid of latent grids: the fields both formats' architectures begin with (this
    module's LatentArchitecture, version 2; latent.network's Architecture, version 3)."""

    height: int
    width: int
    channels: int
    levels: int = 7  # grids at 1, 1/2, ..., 1/2**(levels-1) of the image side (7: down to 1/64)

    def __post_init__(self) -> None:
        for name in ("height", "width", "channels"):
            check_positive_int(f"latent {name}", getattr(self, name))
        check_int("latent levels", self.levels, 1, MAX_LEVELS)

    def level_shapes(self) -> list[tuple[int, int]]:
        """(rows, columns) of each latent grid, finest first."""
        return [(math.ceil(self.height / 2**k), math.ceil(self.width / 2**k)) for k in range(self.levels)]


@dataclass(frozen=True)
class LatentArchitecture(LatentGrids):
    """Everything a version-2 decoder needs to rebuild the networks (it all goes in the file's header)."""

    synthesis_arch: str = "relu"  # a registry model mapping `levels` features per pixel to the colour
    hidden_features: int = 16
    hidden_layers: int = 1
    refine: int = 8  # channels of the residual 3x3 conv refinement (0: none)
    entropy_hidden: int = 8  # width of the context entropy model's hidden layer
    upsampling: str = "bicubic"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("hidden_features", "hidden_layers", "entropy_hidden"):
            check_positive_int(f"latent {name}", getattr(self, name))
        check_int("latent refine", self.refine, 0, 64)
        check_choice("latent upsampling", self.upsampling, UPSAMPLING_MODES)
        check_choice("latent synthesis", self.synthesis_arch, SYNTHESIS_ARCHS)

    def synthesis_hparams(self) -> dict:
        """Registry hyperparameters of the synthesis network."""
        return {"in_features": self.levels, "out_features": self.channels,
                "hidden_features": self.hidden_features, "hidden_layers": self.hidden_layers}


class Refinement(nn.Module):
    """x + conv3x3(relu(conv3x3(x))): a small residual clean-up in image space."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1, padding_mode="replicate")
        self.conv2 = nn.Conv2d(hidden, channels, 3, padding=1, padding_mode="replicate")
        with torch.no_grad():  # start as the identity
            self.conv2.weight.zero_()
            self.conv2.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class LatentDecoder(nn.Module):
    """The networks of one latent-codec image: synthesis, optional refinement, context entropy model."""

    def __init__(self, arch: LatentArchitecture) -> None:
        super().__init__()
        self.arch = arch
        self.synthesis = build_model(arch.synthesis_arch, arch.synthesis_hparams())
        self.refine = Refinement(arch.channels, arch.refine) if arch.refine else None
        self.entropy = ContextEntropyModel(arch.levels, arch.entropy_hidden)

    def modules_to_store(self) -> dict[str, nn.Module]:
        """The networks whose weights the file stores, in the file's order."""
        out = {"synthesis": self.synthesis, "entropy": self.entropy}
        if self.refine is not None:
            out["refine"] = self.refine
        return out

    def upsample(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """[levels, H, W]: every grid interpolated to the image size."""
        size = (self.arch.height, self.arch.width)
        ups = []
        for grid in latents:
            if tuple(grid.shape) == size:
                ups.append(grid[None, None])
            else:
                ups.append(F.interpolate(grid[None, None], size=size, mode=self.arch.upsampling, align_corners=False))
        return torch.cat(ups, dim=1)[0]

    def forward(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """The decoded image [C, H, W] in [0, 1] (unclamped) from (quantized) latents."""
        features = self.upsample(latents)  # [L, H, W]
        values = self.synthesis(features.flatten(1).T)  # [H*W, C]
        image = values.T.reshape(1, self.arch.channels, self.arch.height, self.arch.width)
        if self.refine is not None:
            image = self.refine(image)
        return image[0]

    def multiplications_per_pixel(self) -> float:
        """Multiplications per decoded pixel: upsampling, synthesis, refinement and the entropy model."""
        arch = self.arch
        taps = 16 if arch.upsampling == "bicubic" else 4
        upsampling = taps * (arch.levels - 1)
        synthesis = sum(m.in_features * m.out_features for m in self.synthesis.modules() if isinstance(m, nn.Linear))
        refine = 0
        if self.refine is not None:
            refine = sum(m.weight.numel() for m in (self.refine.conv1, self.refine.conv2))
        latents = sum(h * w for h, w in arch.level_shapes()) / (arch.height * arch.width)
        entropy = latents * self.entropy.multiplications_per_position()  # each latent once, in its pass
        return float(upsampling + synthesis + refine + entropy)
