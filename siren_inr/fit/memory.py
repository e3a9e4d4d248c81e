"""Refuse a fit that cannot fit in memory before anything is allocated."""

from __future__ import annotations

import torch

from siren_inr.errors import SirenInrError

GIB = 1024 ** 3


def _available_bytes(device: str) -> int | None:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.mem_get_info()[0]
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(pixels: int, channels: int, model: torch.nn.Module, batch_size: int | None, device: str,
                 what: str) -> None:
    """Refuse, before any allocation, a fit whose image or full-batch step cannot fit in memory."""
    available = _available_bytes(device)
    if available is None:
        return
    field_bytes = pixels * (2 + channels) * 4 * 3  # coords + values, the shard copies, the gt image
    widths = [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]
    per_pixel = sum(widths) * 4 * 4  # activations, their sines/cosines and gradients, fp32
    step_pixels = min(pixels, batch_size) if batch_size else pixels
    need = field_bytes + step_pixels * per_pixel
    if need > 0.9 * available:
        hint = "a smaller data.sidelength" + ("" if batch_size else " or a data.batch_size (pixels per step)")
        raise SirenInrError(f"{what}: needs about {need / GIB:.1f} GiB ({pixels} pixels) but {device} has "
                            f"{available / GIB:.1f} GiB available; use {hint}")
