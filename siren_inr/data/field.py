"""Pixel fields: an image as coordinates in [-1, 1]^2 and values in [-1, 1]."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from siren_inr.data.pixels import image_hwc, signed_to_unit, unit_to_signed


def coordinate_grid(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Pixel-centre-free grid [H*W, 2] in [-1, 1], row-major; column 0 is x (width), column 1 is y (height)."""
    ys = torch.linspace(-1.0, 1.0, height, device=device)
    xs = torch.linspace(-1.0, 1.0, width, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1).reshape(-1, 2)


@dataclass
class PixelField:
    """An image as a set of (coordinate, value) pairs, ready for a coordinate network."""

    coords: torch.Tensor  # [H*W, 2] in [-1, 1]
    values: torch.Tensor  # [H*W, C] in [-1, 1]
    height: int
    width: int
    channels: int

    @classmethod
    def from_image(cls, image: np.ndarray | torch.Tensor) -> "PixelField":
        """Build the field of an [H, W, C] image with values in [0, 1]."""
        img = torch.as_tensor(image_hwc(image))
        height, width, channels = img.shape
        values = unit_to_signed(img.reshape(-1, channels)).contiguous()
        return cls(coordinate_grid(height, width), values, height, width, channels)

    @property
    def num_pixels(self) -> int:
        """Number of pixels (rows of coords and values)."""
        return self.height * self.width

    def to(self, device: torch.device | str) -> "PixelField":
        """The same field with its tensors on `device`."""
        return PixelField(self.coords.to(device), self.values.to(device), self.height, self.width, self.channels)

    def to_image(self, values: torch.Tensor) -> torch.Tensor:
        """Network output [H*W, C] in [-1, 1] -> image [H, W, C] in [0, 1], clamped."""
        return signed_to_unit(values.reshape(self.height, self.width, self.channels))

    def image(self) -> torch.Tensor:
        """The field's own image [H, W, C] in [0, 1]."""
        return self.to_image(self.values)
