"""Load an image by scikit-image name or from a file, as float32 [H, W, C] in [0, 1]; write one as an 8-bit PNG."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from siren_inr.data.pixels import to_uint8_png
from siren_inr.errors import SirenInrError
from siren_inr.validation import check_int, check_positive_int

# Images above this many pixels are refused before they are decoded (`data.max_pixels`): a 100-megapixel RGB
# image is 1.2 GB as float32, before the network sees it. Raise it for larger images on a larger machine.
DEFAULT_MAX_PIXELS = 100_000_000
# SSIM needs a 3x3 window at least; smaller images cannot be scored.
MIN_SIDE = 3

# Names accepted for images that ship inside the scikit-image wheel (no download at run time).
# Aliases map the names people use to the files scikit-image ships.
SKIMAGE_IMAGES: dict[str, str] = {
    "cameraman": "camera.png",
    "camera": "camera.png",
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "cat": "chelsea.png",
    "coins": "coins.png",
    "moon": "moon.png",
    "page": "page.png",
    "text": "text.png",
    "horse": "horse.png",
    "rocket": "rocket.jpg",
    "retina": "retina.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "logo": "logo.png",
    "motorcycle_left": "motorcycle_left.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "cell": "cell.png",
    "clock": "clock_motion.png",
    "colorwheel": "color.png",
    "microaneurysms": "microaneurysms.png",
}

FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")


def skimage_image_path(name: str) -> Path:
    """Path of a scikit-image bundled image, by its name."""
    import skimage.data

    return Path(skimage.data.data_dir) / SKIMAGE_IMAGES[name]


def _resolve_source(source: str) -> Path:
    return resolve_image_source(source)


def resolve_image_source(source: str) -> Path:
    """The file of an image source (a scikit-image name or a path); SirenInrError when it cannot be an image file."""
    if source in SKIMAGE_IMAGES:
        return skimage_image_path(source)
    path = Path(os.path.expanduser(source))
    try:
        info = path.stat()
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise SirenInrError(f"data.image={source!r} is a symbolic link that leads back to itself (a link loop); "
                                "give the image file itself") from None
        if err.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise SirenInrError(f"data.image={source!r} cannot be read ({err.strerror or err})") from None
        info = None
    if info is None:
        if path.is_symlink():
            raise SirenInrError(f"data.image={source!r} is a symbolic link to {os.readlink(path)!r}, which does "
                                "not exist")
        looks_like_name = not any(sep in source for sep in "/\\") and "." not in source
        accepted = ", ".join(sorted(set(SKIMAGE_IMAGES)))
        if looks_like_name:
            raise SirenInrError(f"data.image={source!r}: no such image name or file; accepted names: {accepted}, "
                                "or a path to a PNG/JPEG/TIFF/BMP file")
        raise SirenInrError(f"data.image={source!r}: file not found")
    if stat.S_ISDIR(info.st_mode):
        raise SirenInrError(f"data.image={source!r} is a folder; give an image file (PNG, JPEG, TIFF, BMP)")
    if not stat.S_ISREG(info.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else
                "a character device" if stat.S_ISCHR(info.st_mode) else
                "a block device" if stat.S_ISBLK(info.st_mode) else
                "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise SirenInrError(f"data.image={source!r} is {kind}, not an image file; give a PNG/JPEG/TIFF/BMP file")
    if info.st_size == 0:
        raise SirenInrError(f"data.image={source!r} is an empty file, not an image")
    return path


def _to_float_array(img: Image.Image) -> np.ndarray:
    """Decode a PIL image of any common mode to float32 [H, W, C] in [0, 1]."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in {"1", "L", "LA"}:
        arr = np.asarray(img.convert("L"), dtype=np.float32)[..., None] / 255.0
    elif mode in {"RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"}:
        # Alpha is dropped: the network represents colour, and composing onto a background would invent data.
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    elif mode.startswith("I;16") or mode == "I":
        raw = np.asarray(img, dtype=np.float64)
        # 16-bit files come back as mode I/I;16; values above 255 tell them from 8-bit data stored as I.
        peak = 65535.0 if raw.max() > 255 or mode.startswith("I;16") else 255.0
        arr = (raw / peak).astype(np.float32)[..., None]
    elif mode == "F":
        raw = np.asarray(img, dtype=np.float32)
        lo, hi = float(raw.min()), float(raw.max())
        arr = ((raw - lo) / (hi - lo if hi > lo else 1.0))[..., None]
    else:
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return np.clip(arr, 0.0, 1.0)


def _too_big(source: str, width: int, height: int, max_pixels: int) -> SirenInrError:
    return SirenInrError(f"data.image={source!r} is {width}x{height} = {width * height} pixels, above "
                         f"data.max_pixels={max_pixels}; accepted: images up to that many pixels (raise "
                         "data.max_pixels for larger ones, on a machine with the memory for them)")


@contextlib.contextmanager
def _pillow_pixel_limit(max_pixels: int) -> Iterator[None]:
    # Pillow refuses files above 2 x MAX_IMAGE_PIXELS on its own (DecompressionBombError); our limit decides.
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(int(max_pixels), 1)
    try:
        with warnings.catch_warnings():  # a file above the limit is refused with our own line, not warned about
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _read_file(path: Path, source: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    try:
        with _pillow_pixel_limit(max_pixels), Image.open(path) as img:
            width, height = img.size  # from the header: nothing is decoded yet
            if width * height > max_pixels:
                raise _too_big(source, width, height, max_pixels)
            img.load()
            return _to_float_array(img)
    except Image.DecompressionBombError:
        raise SirenInrError(f"data.image={source!r} has more pixels than data.max_pixels={max_pixels}; "
                            "accepted: images up to that many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        # Pillow cannot read some 16-bit RGB TIFF/PNG files; scikit-image's readers can.
        try:
            import skimage.io

            arr = np.asarray(skimage.io.imread(str(path)))
        except Exception:
            raise SirenInrError(f"data.image={source!r} is not a readable image ({err}); "
                                "accepted: PNG, JPEG, TIFF, BMP, 8- or 16-bit, grey/RGB/RGBA/palette") from None
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3:
            raise SirenInrError(f"data.image={source!r} has shape {arr.shape}; expected a 2-D image") from None
        arr = arr[..., :3] if arr.shape[-1] >= 3 else arr[..., :1]
        peak = 65535.0 if arr.dtype == np.uint16 else 255.0 if arr.dtype == np.uint8 else max(float(arr.max()), 1.0)
        return np.clip(arr.astype(np.float32) / peak, 0.0, 1.0)


def resized_shape(height: int, width: int, sidelength: int) -> tuple[int, int]:
    """(height, width) of an image whose shorter edge is resized to `sidelength`, before the square crop."""
    scale = sidelength / min(height, width)
    return max(sidelength, round(height * scale)), max(sidelength, round(width * scale))


def resize_square(image: np.ndarray, sidelength: int) -> np.ndarray:
    """Resize the shorter edge to `sidelength` (bilinear, antialiased) and centre-crop to a square."""
    height, width, _ = image.shape
    new_h, new_w = resized_shape(height, width, sidelength)
    channels = []
    for c in range(image.shape[2]):
        # Mode F keeps full float precision (16-bit sources stay 16-bit accurate).
        plane = Image.fromarray(image[..., c].astype(np.float32), mode="F")
        if (new_w, new_h) != (width, height):
            plane = plane.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=None)
        channels.append(np.asarray(plane, dtype=np.float32))
    resized = np.stack(channels, axis=-1)
    top, left = (new_h - sidelength) // 2, (new_w - sidelength) // 2
    return np.clip(resized[top:top + sidelength, left:left + sidelength], 0.0, 1.0)


def checked_max_pixels(max_pixels) -> int:
    """The `data.max_pixels` setting: a positive integer, or a one-line error naming the value."""
    return check_positive_int("data.max_pixels", max_pixels, accepted="a positive integer number of pixels")


def checked_sidelength(sidelength) -> int | None:
    """The `data.sidelength` setting: an integer >= MIN_SIDE or None (the image's own size)."""
    return check_int("data.sidelength", sidelength, MIN_SIDE, optional=True,
                     accepted=f"an integer >= {MIN_SIDE}, or null (the image's own size)")


def load_image(source: str, sidelength: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load a scikit-image name or an image file as float32 [H, W, C] in [0, 1], optionally square-resized.

    Files above `max_pixels` pixels are refused from their header, before any pixel is decoded.
    """
    checked_sidelength(sidelength)
    max_pixels = checked_max_pixels(max_pixels)
    if sidelength is not None and sidelength * sidelength > max_pixels:
        raise SirenInrError(f"data.sidelength={sidelength} gives {sidelength * sidelength} pixels, above "
                            f"data.max_pixels={max_pixels}")
    path = _resolve_source(str(source))
    image = _read_file(path, str(source), max_pixels)
    if image.shape[0] < MIN_SIDE or image.shape[1] < MIN_SIDE:
        raise SirenInrError(f"data.image={source!r} is {image.shape[1]}x{image.shape[0]} pixels; need at least "
                            f"{MIN_SIDE}x{MIN_SIDE} (SSIM's smallest window)")
    if sidelength is not None and image.shape[:2] != (sidelength, sidelength):
        new_h, new_w = resized_shape(image.shape[0], image.shape[1], sidelength)
        if new_h * new_w > max_pixels:  # a long thin image would be resized whole before its square is cut
            raise SirenInrError(f"data.image={source!r} is {image.shape[1]}x{image.shape[0]} pixels; resizing its "
                                f"shorter edge to data.sidelength={sidelength} makes {new_w}x{new_h} = "
                                f"{new_w * new_h} pixels, above data.max_pixels={max_pixels}; crop the image "
                                "first, or give data.sidelength=null")
        image = resize_square(image, sidelength)
    return np.ascontiguousarray(image, dtype=np.float32)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary file beside `path` to write; renamed onto `path` only when the block succeeds.

    A reader never sees a half-written file, and a failed write leaves whatever was at `path` untouched.
    A write that fails for the place (a full disk, a read-only or missing folder) is one line naming the file.
    """
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(handle)
        temporary = Path(name)
        yield temporary
        os.chmod(temporary, _new_file_mode())  # mkstemp makes 0600; a written file gets the usual mode
        os.replace(temporary, path)
    except OSError as err:
        raise SirenInrError(f"cannot write {path}: {err.strerror or err}; nothing was written there") from None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def save_png(path: str | Path, image) -> Path:
    """Write an [H, W, C] or [H, W] image (floats in [0, 1] or uint8) as an 8-bit PNG, atomically."""
    path = Path(path)
    with atomic_output(path) as temporary:
        Image.fromarray(to_uint8_png(image)).save(temporary, format="PNG")
    return path
