"""Weight quantization: fp16, and uniform k-bit with a per-tensor or per-channel (per output row) scale.

A uniformly quantized group stores `low` and `step` as float16 (4 bytes per group, cheap enough for
per-channel scales on small networks) and integer symbols q in [0, 2**bits - 1]; the value is
`low + q * step`, computed in float32. `low` is rounded *down* and `step` *up* to float16, so the grid
still covers [min, max] of the group and the error bound |w - w_hat| <= step / 2 holds exactly (up to
float32 rounding of the reconstruction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from siren_inr.errors import SirenInrError
from siren_inr.validation import check_choice, check_flag, check_int

QUANT_MODES = ("uniform", "fp16", "fp32")
MIN_BITS, MAX_BITS = 1, 16
# Matrices with this many input columns or fewer act on the raw coordinates (SIREN's first layer,
# Fourier features' B, RBF centres): their errors are multiplied by omega_0 / 2 pi, so they are "sensitive".
COORDINATE_COLUMNS = 4


@dataclass(frozen=True)
class QuantSettings:
    """How weights are stored in an .inr file."""

    mode: str = "uniform"  # uniform (k-bit grid), fp16 (half floats, as COIN), fp32 (lossless)
    bits: int = 8  # bits per weight for mode=uniform
    per_channel: bool = False  # one (low, step) per output row of each matrix instead of per tensor
    sensitive_bits: int | None = 12  # bits for biases and coordinate-input matrices (None: `bits`)

    def __post_init__(self) -> None:
        check_choice("quant.mode", self.mode, QUANT_MODES)
        check_int("quant.bits", self.bits, MIN_BITS, MAX_BITS)
        check_flag("quant.per_channel", self.per_channel)
        check_int("quant.sensitive_bits", self.sensitive_bits, MIN_BITS, MAX_BITS, optional=True)

    def bits_for(self, shape: tuple[int, ...]) -> int:
        """Bits of a tensor of `shape`: `sensitive_bits` for vectors and coordinate-input matrices."""
        sensitive = len(shape) <= 1 or int(shape[-1]) <= COORDINATE_COLUMNS
        return self.sensitive_bits if sensitive and self.sensitive_bits is not None else self.bits


@dataclass
class QuantizedTensor:
    """One tensor on a uniform grid: symbols (flat, row-major) and per-group float16 low/step."""

    shape: tuple[int, ...]
    symbols: np.ndarray  # int64, flat, values in [0, 2**bits - 1]
    low: np.ndarray  # float16 [groups]
    step: np.ndarray  # float16 [groups]
    bits: int

    def dequantize(self) -> np.ndarray:
        """The float32 values this tensor stands for."""
        return dequantize(self.symbols, self.low, self.step, self.shape)


def num_groups(shape: tuple[int, ...], per_channel: bool) -> int:
    """Number of (low, step) pairs a tensor of `shape` needs: rows of a matrix, or one."""
    return int(shape[0]) if per_channel and len(shape) >= 2 else 1


def _fp16_down(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # out-of-range values become inf and are reported by the caller
        h = x.astype(np.float16)
    over = h.astype(np.float64) > x
    h[over] = np.nextafter(h[over], np.float16(-np.inf))
    return h


def _fp16_up(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = x.astype(np.float16)
    under = h.astype(np.float64) < x
    h[under] = np.nextafter(h[under], np.float16(np.inf))
    return h


def grid_params(values: np.ndarray, bits: int, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """float16 (low, step) per group so that low + (2**bits - 1) * step covers each group's maximum."""
    rows = np.asarray(values, dtype=np.float64).reshape(groups, -1)
    if rows.size and not np.isfinite(rows).all():
        raise SirenInrError("the network has non-finite weights (NaN or inf); the fit diverged, nothing to encode")
    levels = (1 << bits) - 1
    lo = rows.min(axis=1) if rows.size else np.zeros(groups)
    hi = rows.max(axis=1) if rows.size else np.zeros(groups)
    low = _fp16_down(lo)
    step = _fp16_up(np.maximum(hi - low.astype(np.float64), 0.0) / levels)
    if not (np.isfinite(low).all() and np.isfinite(step).all()):
        raise SirenInrError(
            f"weights span [{lo.min():.4g}, {hi.max():.4g}], beyond float16's range; use quant.mode=fp32"
        )
    # float32 reconstruction of the top level may still fall a hair short of max: widen by one ulp.
    for _ in range(4):
        top = low.astype(np.float32) + np.float32(levels) * step.astype(np.float32)
        short = top.astype(np.float64) < hi
        if not short.any():
            break
        step[short] = np.nextafter(step[short], np.float16(np.inf))
    if not np.isfinite(step).all():
        raise SirenInrError(f"weights span [{lo.min():.4g}, {hi.max():.4g}], beyond float16's range; "
                            "use quant.mode=fp32")
    return low, step


def quantize_uniform(values: np.ndarray | torch.Tensor, bits: int, per_channel: bool = False) -> QuantizedTensor:
    """Round a tensor to a uniform `bits`-bit grid spanning its (per-row) range."""
    arr = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    shape = tuple(int(s) for s in arr.shape)
    groups = num_groups(shape, per_channel)
    low, step = grid_params(arr, bits, groups)
    rows = arr.astype(np.float64).reshape(groups, -1)
    step64 = step.astype(np.float64)[:, None]
    safe = np.where(step64 > 0, step64, 1.0)
    q = np.rint((rows - low.astype(np.float64)[:, None]) / safe)
    q = np.where(step64 > 0, q, 0.0)
    q = np.clip(q, 0, (1 << bits) - 1).astype(np.int64).reshape(-1)
    return QuantizedTensor(shape, q, low, step, bits)


def dequantize(symbols: np.ndarray, low: np.ndarray, step: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """low + q * step in float32, per group, reshaped to `shape`."""
    groups = low.shape[0]
    q = np.asarray(symbols).reshape(groups, -1).astype(np.float32)
    out = low.astype(np.float32)[:, None] + q * step.astype(np.float32)[:, None]
    return out.reshape(shape)


def round_trip(values: torch.Tensor, settings: QuantSettings) -> torch.Tensor:
    """The values a decoder will see for `values` under `settings` (same dtype/device as the input)."""
    if settings.mode == "fp32":
        return values.detach().clone()
    if settings.mode == "fp16":
        arr = values.detach().cpu().numpy().astype(np.float64)
        if arr.size and np.abs(arr).max() > np.finfo(np.float16).max:
            raise SirenInrError("weights exceed float16's range; use quant.mode=fp32")
        return values.detach().to(torch.float16).to(values.dtype)
    qt = quantize_uniform(values, settings.bits_for(tuple(values.shape)), settings.per_channel)
    return torch.from_numpy(qt.dequantize()).to(device=values.device, dtype=values.dtype)


def fake_quantize(values: torch.Tensor, settings: QuantSettings) -> torch.Tensor:
    """Quantized forward value with an identity (straight-through) gradient, for quantization-aware tuning."""
    return values + (round_trip(values, settings) - values).detach()
