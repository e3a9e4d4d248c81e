"""Classical codecs at a setting, swept over their quality range, or at a target bpp.

JPEG, JPEG 2000, WebP and AVIF through Pillow; JPEG XL through imagecodecs (libjxl); HEIC (HEVC intra in a
HEIF file, the codec inside BPG) through pillow-heif (libheif + x265). Settings are the libraries' defaults
except where noted: JPEG 4:2:0 with the standard tables (as in the published "Pillow JPEG" Kodak curve);
JPEG 2000 with the 9/7 wavelet (irreversible) and the colour transform (mct) on, its rate set by a
compression ratio; WebP with method 6 (slowest, smallest); AVIF with Pillow's default speed 6 and 4:2:0;
JPEG XL at libjxl's default effort 7, its rate set by the butteraugli distance; HEIC at libheif's x265
defaults and 4:2:0 (`HEIC_CHROMA`; BPG's published Kodak curve is 4:4:4). Quality is measured on the
decoded 8-bit file, scaled to [0, 1].
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

from siren_inr.compression.codec import image_quality
from siren_inr.data.pixels import to_uint8
from siren_inr.errors import SirenInrError
from siren_inr.metrics.benford import DigitReference, digit_divergences, digit_reference, digit_references

# Each classical codec's name as the README writes it (tables, notes and figures use these).
DISPLAY_NAMES = {"jpeg": "JPEG", "jpeg2000": "JPEG 2000", "webp": "WebP", "avif": "AVIF", "jxl": "JPEG XL",
                 "heic": "HEIC"}


def display_name(codec: str) -> str:
    """A classical codec's name as the README writes it ('webp' -> 'WebP'); other names unchanged."""
    return DISPLAY_NAMES.get(codec, codec)

CLASSICAL_CODECS = ("jpeg", "jpeg2000", "webp", "avif", "jxl", "heic")
# What a codec's setting means, for tables and reports.
SETTING_NAMES = {"jpeg": "quality", "jpeg2000": "compression ratio", "webp": "quality", "avif": "quality",
                 "jxl": "distance", "heic": "quality"}
HEIC_CHROMA = "420"  # chroma subsampling of HEIC files: 420 (as phones write them), 422 or 444 (as BPG's curve)
HEIC_TUNE: str | None = None  # x265 tuning through libheif: None (libheif's default, ssim), psnr, ...
_QUALITY_RANGE = {"jpeg": (1, 100), "webp": (0, 100), "avif": (0, 100), "heic": (0, 100)}
_J2K_RATIO_RANGE = (2.0, 2000.0)
_JXL_DISTANCE_RANGE = (0.1, 25.0)  # libjxl: 1.0 is "visually lossless", 25 its largest distance
_QUALITY_GRID = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 23, 26, 30, 35, 40, 45, 50, 55, 60, 65, 70,
                 75, 80, 85, 88, 90, 92, 94, 96, 98, 100)
_PIL_FEATURE = {"jpeg": "jpg", "jpeg2000": "jpg_2000", "webp": "webp", "avif": "avif"}


def sweep_settings(codec: str) -> list[float]:
    """The settings a sweep of `codec` visits, smallest files first (dense at low rates, where INR files sit)."""
    check_codec(codec)
    if codec == "jpeg2000":
        small, large = _J2K_RATIO_RANGE  # ratio 2000 ... 2 in 48 geometric steps (about 15 % apart)
        return [round(large * (small / large) ** (i / 47), 4) for i in range(48)]
    if codec == "jxl":
        low, high = _JXL_DISTANCE_RANGE  # distance 25 ... 0.1 in 40 geometric steps
        return [round(high * (low / high) ** (i / 39), 4) for i in range(40)]
    low, high = _QUALITY_RANGE[codec]
    return [float(q) for q in _QUALITY_GRID if low <= q <= high]


@dataclass
class ClassicalPoint:
    """One encoded file: its setting, size and decoded quality."""

    codec: str
    quality: float  # the codec's setting: quality (jpeg/webp/avif/heic), compression ratio (jpeg2000), distance (jxl)
    num_bytes: int
    bpp: float
    psnr_db: float
    ssim: float
    # JSD (bits) of the decoded file's leading digits from the original's: 8-bit pixels, 8x8 block-DCT coefficients
    benford_jsd_pixels: float = math.nan
    benford_jsd_dct: float = math.nan


def _available(codec: str) -> bool:
    if codec in _PIL_FEATURE:
        return bool(features.check(_PIL_FEATURE[codec]))
    try:
        if codec == "jxl":
            import imagecodecs

            return bool(imagecodecs.JPEGXL.available)
        import pillow_heif

        return "x265" in str(pillow_heif.libheif_info().get("encoders", {}))
    except ImportError:
        return False


def check_codec(codec: str) -> None:
    """Raise SirenInrError unless `codec` is known and its library is installed with it."""
    if codec not in CLASSICAL_CODECS:
        raise SirenInrError(f"codec {codec!r} is not known; accepted: {', '.join(CLASSICAL_CODECS)}")
    if not _available(codec):
        where = {"jxl": "imagecodecs with JPEG XL (pip install imagecodecs)",
                 "heic": "pillow-heif with the x265 encoder (pip install pillow-heif)"}.get(
            codec, "this Pillow build (see PIL.features.pilinfo())")
        raise SirenInrError(f"codec {codec!r} is not available; it needs {where}")


def _pil_image(image_u8: np.ndarray) -> Image.Image:
    channels = image_u8.shape[2]
    if channels == 1:
        return Image.fromarray(image_u8[..., 0], mode="L")
    if channels == 3:
        return Image.fromarray(image_u8, mode="RGB")
    raise SirenInrError(f"classical codecs take grey or RGB images; this one has {channels} channels")


def encode_classical(image_u8: np.ndarray, codec: str, quality: float) -> bytes:
    """Encode an 8-bit [H,W,C] image with `codec` at its setting `quality` (see ClassicalPoint.quality)."""
    check_codec(codec)
    img = _pil_image(image_u8)
    if codec == "jxl":
        import imagecodecs

        plane = image_u8[..., 0] if image_u8.shape[2] == 1 else image_u8
        return bytes(imagecodecs.jpegxl_encode(np.ascontiguousarray(plane), distance=float(quality), numthreads=1))
    buffer = io.BytesIO()
    if codec == "heic":
        import pillow_heif

        heif = pillow_heif.from_bytes(mode=img.mode, size=img.size, data=img.tobytes())
        options = {"tune": HEIC_TUNE} if HEIC_TUNE else {}
        heif.save(buffer, quality=int(quality), chroma=HEIC_CHROMA, enc_params=options)
    elif codec == "jpeg":
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


def decode_classical(data: bytes, channels: int, codec: str | None = None) -> np.ndarray:
    """Decode a classical file to uint8 [H,W,channels] (`codec` is needed for jxl and heic files)."""
    if codec == "jxl":
        import imagecodecs

        arr = np.asarray(imagecodecs.jpegxl_decode(data), dtype=np.uint8)
        arr = arr[..., None] if arr.ndim == 2 else arr
        return arr if channels == arr.shape[2] else np.asarray(_pil_image(arr).convert("L" if channels == 1 else "RGB"))
    if codec == "heic":
        import pillow_heif

        opened = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True).to_pillow()
    else:
        opened = Image.open(io.BytesIO(data))
    with opened as img:
        img = img.convert("L" if channels == 1 else "RGB")
        arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def evaluate(image: np.ndarray, codec: str, quality: float, digits: DigitReference | None = None) -> ClassicalPoint:
    """Encode at one setting; report bytes, bpp, PSNR, SSIM and leading-digit JSDs of the decoded file against
    `image` (`digits`: the image's `digit_reference`, counted once by a caller that evaluates many settings)."""
    image_u8 = to_uint8(image)
    source = np.asarray(image)
    if source.dtype == np.uint8:
        reference = image_u8.astype(np.float32) / 255.0
    else:
        reference = source.astype(np.float32).reshape(image_u8.shape)
    data = encode_classical(image_u8, codec, quality)
    decoded_u8 = decode_classical(data, image_u8.shape[2], codec)
    psnr, ssim_value = image_quality(decoded_u8.astype(np.float32) / 255.0, reference)
    divergences = digit_divergences(digit_reference(image_u8) if digits is None else digits, decoded_u8)
    pixels = image_u8.shape[0] * image_u8.shape[1]
    return ClassicalPoint(codec, float(quality), len(data), 8.0 * len(data) / pixels, psnr, ssim_value,
                          **divergences)


def sweep(images: Sequence[np.ndarray], codec: str, up_to_bpp: Sequence[float],
          digits: Sequence[DigitReference] | None = None) -> list[list[ClassicalPoint]]:
    """Every image at the same settings of `codec`, smallest files first, from the first setting of
    `sweep_settings` until each image's file is above its own `up_to_bpp` and the mean bpp above their mean
    (or the settings run out). Each image gets every setting, so a mean over images exists at each one.
    `digits`: each image's `digit_reference` (counted here when None)."""
    if len(images) != len(up_to_bpp) or not images:
        raise SirenInrError(f"sweep needs one bpp bound per image; got {len(images)} images, {len(up_to_bpp)} bounds")
    if digits is not None and len(digits) != len(images):
        raise SirenInrError(f"sweep needs one digit reference per image; got {len(images)} images, {len(digits)}")
    curves: list[list[ClassicalPoint]] = [[] for _ in images]
    goal = float(np.mean(up_to_bpp))
    references = digit_references(images, digits)
    for setting in sweep_settings(codec):
        points = [evaluate(image, codec, setting, reference) for image, reference in zip(images, references)]
        for curve, point in zip(curves, points):
            curve.append(point)
        if all(p.bpp > b for p, b in zip(points, up_to_bpp)) and np.mean([p.bpp for p in points]) > goal:
            break
    return curves


def largest_not_above(points: Sequence[ClassicalPoint], target_bpp: float) -> ClassicalPoint | None:
    """Of the swept files, the largest whose rate is not above `target_bpp` (None when even the smallest is)."""
    fits = [p for p in points if p.bpp <= target_bpp + 1e-12]
    return max(fits, key=lambda p: (p.num_bytes, p.psnr_db)) if fits else None


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


def _search_log(size_of: Callable[[float], int], small: float, large: float, budget: int) -> None:
    """Bisect log(setting) in [small, large], where a larger setting gives a smaller file, towards the budget."""
    if size_of(large) > budget or size_of(small) <= budget:
        return
    lo, hi = math.log(small), math.log(large)
    for _ in range(18):
        mid = 0.5 * (lo + hi)
        if size_of(math.exp(mid)) <= budget:
            hi = mid
        else:
            lo = mid


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

    if codec in ("jpeg2000", "jxl"):
        _search_log(size_of, *(_J2K_RATIO_RANGE if codec == "jpeg2000" else _JXL_DISTANCE_RANGE), budget)
        fits = [q for q, n in sizes.items() if n <= budget]
    else:
        low, high = _QUALITY_RANGE[codec]
        fits = _search_integer(size_of, low, high, budget)
    if not fits:
        return None
    best = max(fits, key=lambda q: (sizes[q], -q if codec in ("jpeg2000", "jxl") else q))
    return evaluate(image, codec, best)
