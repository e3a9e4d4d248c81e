"""Classical codecs through Pillow (JPEG, JPEG 2000, WebP, AVIF) at a quality or at a target bpp.

Settings are Pillow's defaults except where noted: JPEG 4:2:0 with the standard tables (as in the
published "Pillow JPEG" Kodak curve); JPEG 2000 with the 9/7 wavelet (irreversible) and the colour
transform (mct) on, rate set by a compression ratio; WebP with method 6 (slowest, smallest); AVIF with
Pillow's default speed 6 and 4:2:0. Quality is measured on the decoded 8-bit file, scaled to [0, 1].
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

from siren_inr.compression.codec import image_quality
from siren_inr.errors import SirenInrError

CLASSICAL_CODECS = ("jpeg", "jpeg2000", "webp", "avif")
# Integer quality ranges searched for each codec; jpeg2000 searches a continuous compression ratio.
_QUALITY_RANGE = {"jpeg": (1, 100), "webp": (0, 100), "avif": (0, 100)}
_J2K_RATIO_RANGE = (2.0, 2000.0)
_PIL_FEATURE = {"jpeg": "jpg", "jpeg2000": "jpg_2000", "webp": "webp", "avif": "avif"}


@dataclass
class ClassicalPoint:
    """One encoded file: its setting, size and decoded quality."""

    codec: str
    quality: float  # codec quality (jpeg/webp/avif) or compression ratio (jpeg2000)
    num_bytes: int
    bpp: float
    psnr_db: float
    ssim: float


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[H,W,C] float image in [0,1] -> uint8 [H,W,C] (rounded)."""
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        return arr if arr.ndim == 3 else arr[..., None]
    arr = np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    return arr if arr.ndim == 3 else arr[..., None]


def check_codec(codec: str) -> None:
    """Raise SirenInrError unless `codec` is known and this Pillow build supports it."""
    if codec not in CLASSICAL_CODECS:
        raise SirenInrError(f"codec {codec!r} is not known; accepted: {', '.join(CLASSICAL_CODECS)}")
    if not features.check(_PIL_FEATURE[codec]):
        raise SirenInrError(f"codec {codec!r} is not available in this Pillow build (see PIL.features.pilinfo())")


def _pil_image(image_u8: np.ndarray) -> Image.Image:
    channels = image_u8.shape[2]
    if channels == 1:
        return Image.fromarray(image_u8[..., 0], mode="L")
    if channels == 3:
        return Image.fromarray(image_u8, mode="RGB")
    raise SirenInrError(f"classical codecs take grey or RGB images; this one has {channels} channels")


def encode_classical(image_u8: np.ndarray, codec: str, quality: float) -> bytes:
    """Encode an 8-bit [H,W,C] image with `codec` at `quality` (jpeg2000: compression ratio)."""
    check_codec(codec)
    img = _pil_image(image_u8)
    buffer = io.BytesIO()
    if codec == "jpeg":
        img.save(buffer, "JPEG", quality=int(quality))
    elif codec == "jpeg2000":
        mct = 1 if img.mode == "RGB" else 0
        img.save(buffer, "JPEG2000", quality_mode="rates", quality_layers=[float(quality)], mct=mct,
                 irreversible=True)
    elif codec == "webp":
        img.save(buffer, "WEBP", quality=int(quality), method=6)
    else:
        img.save(buffer, "AVIF", quality=int(quality))
    return buffer.getvalue()


def decode_classical(data: bytes, channels: int) -> np.ndarray:
    """Decode a classical file to uint8 [H,W,channels]."""
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def evaluate(image: np.ndarray, codec: str, quality: float) -> ClassicalPoint:
    """Encode at one setting; report bytes, bpp, PSNR and SSIM of the decoded file against `image`."""
    image_u8 = to_uint8(image)
    source = np.asarray(image)
    if source.dtype == np.uint8:
        reference = image_u8.astype(np.float32) / 255.0
    else:
        reference = source.astype(np.float32).reshape(image_u8.shape)
    data = encode_classical(image_u8, codec, quality)
    decoded = decode_classical(data, image_u8.shape[2]).astype(np.float32) / 255.0
    psnr, ssim_value = image_quality(decoded, reference)
    pixels = image_u8.shape[0] * image_u8.shape[1]
    return ClassicalPoint(codec, float(quality), len(data), 8.0 * len(data) / pixels, psnr, ssim_value)


def _search_integer(size_of: Callable[[int], int], low: int, high: int, budget: int) -> list[int]:
    """Qualities tried by a bisection for the largest size <= budget (plus neighbours, for non-monotone steps)."""
    tried: dict[int, int] = {}

    def size(q: int) -> int:
        if q not in tried:
            tried[q] = size_of(q)
        return tried[q]

    lo, hi = low, high
    if size(lo) > budget:
        return []
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    for q in range(lo + 1, min(lo + 3, high) + 1):
        size(q)
    return [q for q, n in tried.items() if n <= budget]


def at_target_bpp(image: np.ndarray, codec: str, target_bpp: float) -> ClassicalPoint | None:
    """The largest file of `codec` not above `target_bpp` (None if even the lowest setting is above it)."""
    check_codec(codec)
    if not (isinstance(target_bpp, (int, float)) and math.isfinite(target_bpp) and target_bpp > 0):
        raise SirenInrError(f"target bpp must be a positive number, got {target_bpp!r}")
    image_u8 = to_uint8(image)
    pixels = image_u8.shape[0] * image_u8.shape[1]
    budget = int(math.floor(target_bpp * pixels / 8.0 + 1e-9))
    sizes: dict[float, int] = {}

    def size_of(q: float) -> int:
        if q not in sizes:
            sizes[q] = len(encode_classical(image_u8, codec, q))
        return sizes[q]

    if codec == "jpeg2000":
        # Larger ratio -> smaller file; bisect log(ratio) for the smallest ratio that fits.
        small, large = _J2K_RATIO_RANGE
        if size_of(large) > budget:
            return None
        if size_of(small) > budget:
            lo, hi = math.log(small), math.log(large)
            for _ in range(18):
                mid = 0.5 * (lo + hi)
                if size_of(math.exp(mid)) <= budget:
                    hi = mid
                else:
                    lo = mid
        fits = [q for q, n in sizes.items() if n <= budget]
    else:
        low, high = _QUALITY_RANGE[codec]
        fits = _search_integer(size_of, low, high, budget)
    if not fits:
        return None
    best = max(fits, key=lambda q: (sizes[q], q))
    return evaluate(image, codec, best)
