"""Pixel-range conversions: the network's [-1, 1], images' [0, 1], and 8-bit samples. The one owner of each."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siren_inr.errors import SirenInrError


def signed_to_unit(values: torch.Tensor) -> torch.Tensor:
    """Network values in [-1, 1] -> image values in [0, 1], clamped."""
    return ((values + 1.0) * 0.5).clamp(0.0, 1.0)


def unit_to_signed(values: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Image values in [0, 1] -> network targets in [-1, 1]."""
    return values * 2.0 - 1.0


def image_hwc(image: Any) -> np.ndarray:
    """An image as float32 [H, W, C] (a grey [H, W] gets its one channel); values unchanged."""
    image = np.asarray(image, dtype=np.float32)
    return image[..., None] if image.ndim == 2 else image


def image_chw(image: Any) -> torch.Tensor:
    """An image as a float32 tensor [C, H, W] (channels first, as convolutions take it); values unchanged."""
    return torch.from_numpy(np.ascontiguousarray(image_hwc(image).transpose(2, 0, 1)))


def to_uint8(image: Any) -> np.ndarray:
    """An image as 8-bit samples [H, W, C]: uint8 passes through, integers 0..255 are cast, floats in [0, 1]
    are clipped, scaled and rounded half to even (what saving a [0, 1] image as an 8-bit PNG does)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise SirenInrError(f"image of shape {array.shape}: expected [H, W] or [H, W, C]")
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise SirenInrError(f"integer image with values in [{array.min()}, {array.max()}]: expected 0..255")
        return array.astype(np.uint8)
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise SirenInrError("image contains NaN or infinite values; expected floats in [0, 1]")
    return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)


def to_uint8_png(image: Any) -> np.ndarray:
    """8-bit samples shaped for a PNG writer: [H, W] for one channel, [H, W, C] otherwise."""
    array = to_uint8(image)
    return array[..., 0] if array.shape[2] == 1 else array
