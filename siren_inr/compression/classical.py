"""Classical codecs at a setting, swept over their quality range, or at a target bpp.

Each codec is one `ClassicalCodec` in a registry (`register_classical`): its name, its name as the README writes
it, its encoder and decoder, its setting (the knob: its meaning, range and which way files grow), how to tell it
is installed, and its file extension. Nothing else in the package branches on a classical codec's name; adding
a codec is one registration here.

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

HEIC_CHROMA = "420"  # chroma subsampling of HEIC files: 420 (as phones write them), 422 or 444 (as BPG's curve)
HEIC_TUNE: str | None = None  # x265 tuning through libheif: None (libheif's default, ssim), psnr, ...
# The integer qualities a sweep visits (those inside a codec's range), dense at low rates, where INR files sit.
_QUALITY_GRID = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 23, 26, 30, 35, 40, 45, 50, 55, 60, 65, 70,
                 75, 80, 85, 88, 90, 92, 94, 96, 98, 100)
_PILLOW_NEEDS = "this Pillow build (see PIL.features.pilinfo())"


@dataclass(frozen=True)
class Knob:
    """A codec's one rate setting: what it means, its range, whether it is an integer, and which way files grow."""

    name: str  # for tables and reports: "quality", "compression ratio", "distance"
    low: float
    high: float
    larger_makes_larger_files: bool  # a quality: True; a compression ratio or a distance: False
    integer: bool  # integer settings are searched by integer bisection; others by bisection of log(setting)
    sweep_steps: int = 0  # a continuous knob's sweep: this many geometric steps over [low, high]

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"knob {self.name!r}: low {self.low} must be below high {self.high}")
        if not self.integer and (self.low <= 0 or self.sweep_steps < 2):
            raise ValueError(f"continuous knob {self.name!r} needs a positive range and at least 2 sweep steps")

    @property
    def smallest_file_end(self) -> float:
        """The end of the range that gives the smallest file."""
        return self.low if self.larger_makes_larger_files else self.high

    @property
    def largest_file_end(self) -> float:
        """The end of the range that gives the largest file."""
        return self.high if self.larger_makes_larger_files else self.low

    def sweep(self) -> list[float]:
        """The settings a sweep visits, smallest files first."""
        if self.integer:
            grid = [float(q) for q in _QUALITY_GRID if self.low <= q <= self.high]
            return grid if self.larger_makes_larger_files else grid[::-1]
        start, stop, last = self.smallest_file_end, self.largest_file_end, self.sweep_steps - 1
        return [round(start * (stop / start) ** (i / last), 4) for i in range(self.sweep_steps)]

    def prefer(self, setting: float) -> float:
        """Among settings giving files of one size, the larger this, the better (the richer-file end wins)."""
        return setting if self.larger_makes_larger_files else -setting


@dataclass(frozen=True)
class ClassicalCodec:
    """One classical codec: everything the sweeps, searches, tables and figures need to know about it."""

    name: str  # as tables and settings name it: "jpeg"
    display_name: str  # as the README writes it: "JPEG"
    knob: Knob
    encode: Callable[[np.ndarray, float], bytes]  # uint8 [H,W,1 or 3] image, setting -> file
    decode: Callable[[bytes, int], np.ndarray]  # file, channels -> uint8 [H,W,channels]
    available: Callable[[], bool]  # whether the library behind it is installed with this codec
    needs: str  # what to install when it is not available
    extension: str  # of a file holding its output: ".jpg"


_REGISTRY: dict[str, ClassicalCodec] = {}


def register_classical(codec: ClassicalCodec) -> ClassicalCodec:
    """Add a classical codec to the registry under its name (once)."""
    if codec.name in _REGISTRY:
        raise ValueError(f"classical codec {codec.name!r} is registered twice")
    _REGISTRY[codec.name] = codec
    return codec


def list_classical_codecs() -> list[str]:
    """The registered classical codecs' names, in registration order."""
    return list(_REGISTRY)


def get_classical_codec(name: str) -> ClassicalCodec:
    """The registered codec `name` (SirenInrError naming the accepted ones when there is none)."""
    if name not in _REGISTRY:
        raise SirenInrError(f"codec {name!r} is not known; accepted: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _check_channels(image_u8: np.ndarray) -> None:
    channels = image_u8.shape[2]
    if channels not in (1, 3):
        raise SirenInrError(f"classical codecs take grey or RGB images; this one has {channels} channels")


def _pil_image(image_u8: np.ndarray) -> Image.Image:
    _check_channels(image_u8)
    if image_u8.shape[2] == 1:
        return Image.fromarray(image_u8[..., 0], mode="L")
    return Image.fromarray(image_u8, mode="RGB")


def _to_array(opened: Image.Image, channels: int) -> np.ndarray:
    with opened as img:
        img = img.convert("L" if channels == 1 else "RGB")
        arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _decode_pillow(data: bytes, channels: int) -> np.ndarray:
    return _to_array(Image.open(io.BytesIO(data)), channels)


def _pillow_file(image_u8: np.ndarray, format_name: str, **options) -> bytes:
    buffer = io.BytesIO()
    _pil_image(image_u8).save(buffer, format_name, **options)
    return buffer.getvalue()


def _pillow_has(feature: str) -> Callable[[], bool]:
    return lambda: bool(features.check(feature))


def _encode_jpeg(image_u8: np.ndarray, quality: float) -> bytes:
    return _pillow_file(image_u8, "JPEG", quality=int(quality))


def _encode_jpeg2000(image_u8: np.ndarray, ratio: float) -> bytes:
    mct = 1 if image_u8.shape[2] == 3 else 0  # the colour transform applies to RGB only
    return _pillow_file(image_u8, "JPEG2000", quality_mode="rates", quality_layers=[float(ratio)], mct=mct,
                        irreversible=True)


def _encode_webp(image_u8: np.ndarray, quality: float) -> bytes:
    return _pillow_file(image_u8, "WEBP", quality=int(quality), method=6)


def _encode_avif(image_u8: np.ndarray, quality: float) -> bytes:
    return _pillow_file(image_u8, "AVIF", quality=int(quality))


def _encode_jxl(image_u8: np.ndarray, distance: float) -> bytes:
    import imagecodecs

    plane = image_u8[..., 0] if image_u8.shape[2] == 1 else image_u8
    return bytes(imagecodecs.jpegxl_encode(np.ascontiguousarray(plane), distance=float(distance), numthreads=1))


def _decode_jxl(data: bytes, channels: int) -> np.ndarray:
    import imagecodecs

    arr = np.asarray(imagecodecs.jpegxl_decode(data), dtype=np.uint8)
    arr = arr[..., None] if arr.ndim == 2 else arr
    return arr if channels == arr.shape[2] else np.asarray(_pil_image(arr).convert("L" if channels == 1 else "RGB"))


def _jxl_available() -> bool:
    try:
        import imagecodecs
    except ImportError:
        return False
    return bool(imagecodecs.JPEGXL.available)


def _encode_heic(image_u8: np.ndarray, quality: float) -> bytes:
    import pillow_heif

    img = _pil_image(image_u8)
    heif = pillow_heif.from_bytes(mode=img.mode, size=img.size, data=img.tobytes())
    options = {"tune": HEIC_TUNE} if HEIC_TUNE else {}  # read at each call: a study may change them
    buffer = io.BytesIO()
    heif.save(buffer, quality=int(quality), chroma=HEIC_CHROMA, enc_params=options)
    return buffer.getvalue()


def _decode_heic(data: bytes, channels: int) -> np.ndarray:
    import pillow_heif

    return _to_array(pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True).to_pillow(), channels)


def _heic_available() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    return "x265" in str(pillow_heif.libheif_info().get("encoders", {}))


def _quality(low: int) -> Knob:
    return Knob("quality", low, 100, larger_makes_larger_files=True, integer=True)


# The registry, in the order tables, reports and figures list the codecs.
register_classical(ClassicalCodec("jpeg", "JPEG", _quality(1), _encode_jpeg, _decode_pillow, _pillow_has("jpg"),
                                  _PILLOW_NEEDS, ".jpg"))
register_classical(ClassicalCodec(
    "jpeg2000", "JPEG 2000",
    Knob("compression ratio", 2.0, 2000.0, larger_makes_larger_files=False, integer=False, sweep_steps=48),
    _encode_jpeg2000, _decode_pillow, _pillow_has("jpg_2000"), _PILLOW_NEEDS, ".jp2"))
register_classical(ClassicalCodec("webp", "WebP", _quality(0), _encode_webp, _decode_pillow, _pillow_has("webp"),
                                  _PILLOW_NEEDS, ".webp"))
register_classical(ClassicalCodec("avif", "AVIF", _quality(0), _encode_avif, _decode_pillow, _pillow_has("avif"),
                                  _PILLOW_NEEDS, ".avif"))
register_classical(ClassicalCodec(
    "jxl", "JPEG XL",  # libjxl: distance 1.0 is "visually lossless", 25 its largest
    Knob("distance", 0.1, 25.0, larger_makes_larger_files=False, integer=False, sweep_steps=40),
    _encode_jxl, _decode_jxl, _jxl_available, "imagecodecs with JPEG XL (pip install imagecodecs)", ".jxl"))
register_classical(ClassicalCodec("heic", "HEIC", _quality(0), _encode_heic, _decode_heic, _heic_available,
                                  "pillow-heif with the x265 encoder (pip install pillow-heif)", ".heic"))

# Views of the registry under the names other modules import.
CLASSICAL_CODECS = tuple(_REGISTRY)
# Each classical codec's name as the README writes it (tables, notes and figures use these).
DISPLAY_NAMES = {name: codec.display_name for name, codec in _REGISTRY.items()}
# What a codec's setting means, for tables and reports.
SETTING_NAMES = {name: codec.knob.name for name, codec in _REGISTRY.items()}


def display_name(codec: str) -> str:
    """A classical codec's name as the README writes it ('webp' -> 'WebP'); other names unchanged."""
    return _REGISTRY[codec].display_name if codec in _REGISTRY else codec


def sweep_settings(codec: str) -> list[float]:
    """The settings a sweep of `codec` visits, smallest files first (dense at low rates, where INR files sit)."""
    check_codec(codec)
    return _REGISTRY[codec].knob.sweep()


@dataclass
class ClassicalPoint:
    """One encoded file: its setting, size and decoded quality."""

    codec: str
    quality: float  # the codec's setting (its knob, SETTING_NAMES): quality, compression ratio, distance
    num_bytes: int
    bpp: float
    psnr_db: float
    ssim: float
    # JSD (bits) of the decoded file's leading digits from the original's: 8-bit pixels, 8x8 block-DCT coefficients
    benford_jsd_pixels: float = math.nan
    benford_jsd_dct: float = math.nan


def _available(codec: str) -> bool:
    return codec in _REGISTRY and _REGISTRY[codec].available()


def check_codec(codec: str) -> None:
    """Raise SirenInrError unless `codec` is known and its library is installed with it."""
    entry = get_classical_codec(codec)
    if not entry.available():
        raise SirenInrError(f"codec {codec!r} is not available; it needs {entry.needs}")


def encode_classical(image_u8: np.ndarray, codec: str, quality: float) -> bytes:
    """Encode an 8-bit [H,W,C] image with `codec` at its setting `quality` (see ClassicalPoint.quality)."""
    check_codec(codec)
    _check_channels(image_u8)
    return _REGISTRY[codec].encode(image_u8, quality)


def decode_classical(data: bytes, channels: int, codec: str | None = None) -> np.ndarray:
    """Decode a classical file to uint8 [H,W,channels] (`codec` is needed for files Pillow cannot open: jxl, heic)."""
    entry = _REGISTRY.get(codec) if codec is not None else None
    return _decode_pillow(data, channels) if entry is None else entry.decode(data, channels)


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


def _search_integer(size_of: Callable[[int], int], knob: Knob, budget: int) -> list[int]:
    """Settings tried by a bisection for the largest size <= budget (plus neighbours, for non-monotone steps)."""
    sign = 1 if knob.larger_makes_larger_files else -1  # bisect over sign * setting, which grows with the file
    tried: dict[int, int] = {}

    def size(step: int) -> int:
        if step not in tried:
            tried[step] = size_of(sign * step)
        return tried[step]

    low, high = sorted((sign * int(knob.low), sign * int(knob.high)))
    lo, hi = low, high
    if size(lo) > budget:
        return []
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    for step in range(lo + 1, min(lo + 3, high) + 1):
        size(step)
    return [sign * step for step, n in tried.items() if n <= budget]


def _search_log(size_of: Callable[[float], int], knob: Knob, budget: int) -> None:
    """Bisect log(setting) over the knob's range towards the budget (the sizes land in `size_of`'s cache)."""
    richest, poorest = knob.largest_file_end, knob.smallest_file_end
    if size_of(poorest) > budget or size_of(richest) <= budget:
        return
    lo, hi = math.log(richest), math.log(poorest)  # lo's file is above the budget, hi's within it
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
    knob = _REGISTRY[codec].knob
    image_u8 = to_uint8(image)
    pixels = image_u8.shape[0] * image_u8.shape[1]
    budget = int(math.floor(target_bpp * pixels / 8.0 + 1e-9))
    sizes: dict[float, int] = {}

    def size_of(q: float) -> int:
        if q not in sizes:
            sizes[q] = len(encode_classical(image_u8, codec, q))
        return sizes[q]

    if knob.integer:
        fits = _search_integer(size_of, knob, budget)
    else:
        _search_log(size_of, knob, budget)
        fits = [q for q, n in sizes.items() if n <= budget]
    if not fits:
        return None
    best = max(fits, key=lambda q: (sizes[q], knob.prefer(q)))
    return evaluate(image, codec, best)
