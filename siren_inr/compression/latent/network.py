"""The networks of one latent-codec image (format version 3): upsampling, synthesis and the causal ARM."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from siren_inr.compression.latent.arm import Arm
from siren_inr.compression.latent.model import LatentGrids
from siren_inr.compression.latent.synthesis import ACTIVATIONS, PRESETS, Synthesis, Upsampler
from siren_inr.validation import check_choice, check_number


@dataclass(frozen=True)
class Architecture(LatentGrids):
    """Everything a version-3 decoder needs to rebuild the networks (it all goes in the file's header)."""

    preset: str = "lop"  # decoder cost: lop, mop or hop (about 500, 1,000, 2,000 multiplications per pixel)
    synthesis: str = "sine"  # the synthesis activation: sine (sin(omega x), a SIREN-style synthesis), or relu
    omega: float = 4.0  # the sine's frequency (unused by relu)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("latent preset", self.preset, PRESETS)
        check_choice("latent synthesis", self.synthesis, ACTIVATIONS)
        check_number("latent omega", self.omega, 0, 1000, low_open=True)


class LatentNetworks(nn.Module):
    """Upsampling cascade, synthesis and ARM of one image."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        preset = PRESETS[arch.preset]
        self.upsampler = Upsampler(arch.levels)
        self.synthesis = Synthesis(arch.levels, arch.channels, preset, arch.synthesis, float(arch.omega))
        self.arm = Arm(arch.levels, preset.context, preset.features)

    def modules_to_store(self) -> dict[str, nn.Module]:
        """The networks whose weights the file stores, in the file's order."""
        return {"upsampler": self.upsampler, "synthesis": self.synthesis, "arm": self.arm}

    def forward(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """The image [C, H, W] (unclamped) from latent grids (finest first)."""
        return self.synthesis(self.upsampler(latents))

    def rate_bits(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Estimated bits of the latents under the float ARM."""
        return self.arm.rate_bits(latents)

    def multiplications_per_pixel(self) -> float:
        """Multiplications per decoded pixel: ARM and inter-grid features, upsampling, synthesis."""
        shapes = self.arch.level_shapes()
        pixels = self.arch.height * self.arch.width
        latents = sum(rows * cols for rows, cols in shapes)
        per_image = (latents * self.arm.multiplications_per_latent() + self.arm.inter_multiplications(shapes)
                     + self.upsampler.multiplications(shapes))
        return per_image / pixels + self.synthesis.multiplications_per_pixel()
