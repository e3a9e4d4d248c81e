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


def test_resize_is_antialiased_box_average_for_exact_halving():
    image = np.random.default_rng(0).random((8, 8, 1)).astype(np.float32)
    half = resize_square(image, 4)
    # Bilinear downscaling by 2 with antialiasing averages a 4x4 tent; the mean brightness is preserved.
    assert half.shape == (4, 4, 1)
    assert abs(half.mean() - image.mean()) < 0.03


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


@pytest.mark.parametrize("side", [0, -3, 2.5, True])
def test_bad_sidelength(side):
    assert "data.sidelength" in _message(load_image, "cameraman", side)
