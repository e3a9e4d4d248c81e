"""Image quality on [0, 1] images (data_range=1): the one PSNR, SSIM and MSE of the project."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def as_nchw(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    """[H, W], [H, W, C] or [N, C, H, W] (tensor or array) -> float [N, C, H, W]."""
    t = torch.as_tensor(np.asarray(image) if isinstance(image, np.ndarray) else image)
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t.permute(2, 0, 1)[None]
    elif t.ndim != 4:
        raise ValueError(f"expected an image of 2, 3 or 4 dims, got shape {tuple(t.shape)}")
    return t.float() if not t.is_floating_point() else t


def _pair(pred, target) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = as_nchw(pred), as_nchw(target)
    if p.shape != t.shape:
        raise ValueError(f"prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    return p, t.to(p.device, p.dtype)


def mse_tensor(pred, target) -> torch.Tensor:
    """Mean squared error on [0, 1] images, as a 0-dim tensor (no host sync)."""
    p, t = _pair(pred, target)
    return torch.mean((p - t) ** 2)


def psnr_tensor(pred, target) -> torch.Tensor:
    """PSNR in dB with data_range=1, as a 0-dim tensor (no host sync)."""
    p, t = _pair(pred, target)
    return peak_signal_noise_ratio(p, t, data_range=1.0)


def ssim_tensor(pred, target) -> torch.Tensor:
    """SSIM (Gaussian window 11, sigma 1.5) with data_range=1, as a 0-dim tensor."""
    p, t = _pair(pred, target)
    # The standard 11-px window; smaller images get the largest odd window that fits.
    side = min(p.shape[-2], p.shape[-1])
    kernel = min(11, side if side % 2 else side - 1)
    if kernel < 3:
        raise ValueError(f"SSIM needs an image of at least 3x3 pixels, got {tuple(p.shape[-2:])}")
    sigma = 1.5 * kernel / 11
    return structural_similarity_index_measure(p, t, data_range=1.0, kernel_size=kernel, sigma=sigma)


def mse(pred, target) -> float:
    """Mean squared error on [0, 1] images."""
    return float(mse_tensor(pred, target))


def psnr_db(pred, target) -> float:
    """PSNR in dB on [0, 1] images (data_range=1)."""
    return float(psnr_tensor(pred, target))


def ssim(pred, target) -> float:
    """SSIM on [0, 1] images (data_range=1)."""
    return float(ssim_tensor(pred, target))
