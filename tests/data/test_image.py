"""Image loading: scikit-image names, every file flavour the issue lists, resizing, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image

from siren_inr.data import load_image
from siren_inr.data.image import SKIMAGE_IMAGES, resize_square
from siren_inr.errors import SirenInrError


def test_cameraman_by_name_matches_scikit_image():
    native = load_image("cameraman", None)
    reference = skimage.data.camera().astype(np.float32) / 255.0
    assert native.shape == (512, 512, 1)
    np.testing.assert_array_equal(native[..., 0], reference)


def test_every_listed_name_ships_in_the_wheel():
    for name in SKIMAGE_IMAGES:
        image = load_image(name, 16)
        assert image.shape[:2] == (16, 16) and image.dtype == np.float32
        assert 0.0 <= image.min() and image.max() <= 1.0


def test_colour_names_give_three_channels():
    assert load_image("astronaut", 32).shape == (32, 32, 3)


def _tent_weights(n_in: int, n_out: int) -> np.ndarray:
    """Rows of an explicit antialiased bilinear (tent) filter: support 1 output pixel widened by the scale."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    weights = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 0.5) * scale
        for x in range(n_in):
            weights[i, x] = max(0.0, 1.0 - abs((x + 0.5 - centre) / support))
        weights[i] /= weights[i].sum()
    return weights


@pytest.mark.parametrize("height, width, side", [(8, 8, 4), (12, 9, 6), (5, 7, 5)])
def test_resize_is_an_antialiased_tent_filter_then_a_centre_crop(height, width, side):
    image = np.random.default_rng(0).random((height, width, 1)).astype(np.float32)
    resized = resize_square(image, side)
    scale = side / min(height, width)
    new_h, new_w = max(side, round(height * scale)), max(side, round(width * scale))
    reference = _tent_weights(height, new_h) @ image[..., 0] @ _tent_weights(width, new_w).T
    top, left = (new_h - side) // 2, (new_w - side) // 2
    np.testing.assert_allclose(resized[..., 0], reference[top:top + side, left:left + side], atol=1e-6)


def test_non_square_images_are_centre_cropped(tmp_path):
    wide = np.zeros((20, 40), dtype=np.uint8)
    wide[:, 10:30] = 255  # the centre 20 columns are white
    path = tmp_path / "wide.png"
    Image.fromarray(wide).save(path)
    image = load_image(str(path), 20)
    assert image.shape == (20, 20, 1)
    assert image.min() == pytest.approx(1.0)
    assert load_image(str(path), None).shape == (20, 40, 1)


@pytest.mark.parametrize("mode,suffix", [("L", ".png"), ("RGB", ".png"), ("RGBA", ".png"), ("P", ".png"),
                                         ("RGB", ".jpg"), ("L", ".tif"), ("RGB", ".bmp"), ("RGB", ".tiff")])
def test_file_flavours(tmp_path, mode, suffix):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    img = img.convert(mode) if mode != "P" else img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    path = tmp_path / f"x{suffix}"
    img.save(path)
    loaded = load_image(str(path), None)
    expected_channels = 1 if mode == "L" else 3
    assert loaded.shape == (12, 12, expected_channels)
    if suffix != ".jpg":
        reference = np.asarray(img.convert("L" if mode == "L" else "RGB"), dtype=np.float32) / 255.0
        np.testing.assert_allclose(loaded.reshape(reference.shape), reference, atol=1e-6)


def test_sixteen_bit_png_keeps_its_precision(tmp_path):
    values = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    loaded = load_image(str(path), None)
    np.testing.assert_allclose(loaded[..., 0], values / 65535.0, atol=1e-6)
    assert len(np.unique(loaded)) == 256  # far more levels than 8 bits would keep in a 16x16 ramp


def _message(callable_, *args) -> str:
    with pytest.raises(SirenInrError) as info:
        callable_(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "not found" in _message(load_image, str(tmp_path / "nope.png"))


def test_unknown_name_lists_the_accepted_names():
    message = _message(load_image, "notanimage")
    assert "'notanimage'" in message and "cameraman" in message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert "empty" in _message(load_image, str(path))


def test_file_that_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not pixels\n")
    assert "not a readable image" in _message(load_image, str(path))


def test_folder(tmp_path):
    assert "folder" in _message(load_image, str(tmp_path))


@pytest.mark.parametrize("side", [0, -3, 2, 2.5, True])
def test_bad_sidelength(side):
    assert "data.sidelength" in _message(load_image, "cameraman", side)


def test_images_smaller_than_ssims_window_are_refused(tmp_path):
    path = tmp_path / "thin.png"
    Image.fromarray(np.zeros((40, 2), dtype=np.uint8)).save(path)
    assert "at least 3x3" in _message(load_image, str(path))


def _header_only_png(path, width: int, height: int):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def test_images_above_max_pixels_are_refused_from_the_header(tmp_path):
    bomb = _header_only_png(tmp_path / "bomb.png", 30000, 30000)  # Pillow's own limit raised a traceback
    assert "data.max_pixels=100000000" in _message(load_image, str(bomb))
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((10, 12), dtype=np.uint8)).save(small)
    assert load_image(str(small), None, max_pixels=120).shape == (10, 12, 1)  # the limit itself is accepted
    assert "12x10 = 120 pixels" in _message(load_image, str(small), None, 119)
    assert "data.sidelength=16 gives 256 pixels" in _message(load_image, str(small), 16, 255)
    for bad in (0, -1, 2.5, True):
        assert "data.max_pixels" in _message(load_image, str(small), None, bad)


def test_save_png_round_trips_and_never_leaves_a_partial_file(tmp_path, monkeypatch):
    from siren_inr.data import image as image_module
    from siren_inr.data.image import save_png

    values = np.random.default_rng(2).random((6, 5, 3))
    target = save_png(tmp_path / "sub" / "x.png", values)
    with Image.open(target) as written:
        assert written.format == "PNG"
        np.testing.assert_array_equal(np.asarray(written), np.clip(np.rint(values * 255), 0, 255).astype(np.uint8))
    before = target.read_bytes()

    def broken(array):
        raise OSError("disk full")

    monkeypatch.setattr(image_module.Image, "fromarray", broken)
    with pytest.raises(SirenInrError, match=r"cannot write .*x\.png: disk full; nothing was written there"):
        save_png(target, values * 0)
    assert target.read_bytes() == before  # the old file is intact, no temporary file is left beside it
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.png"]
