"""Classical codecs: decoded quality against an independent computation, and the bpp-target search."""

import io
import math

import numpy as np
import pytest
from PIL import Image

from siren_inr.compression.classical import (
    CLASSICAL_CODECS,
    at_target_bpp,
    encode_classical,
    evaluate,
    to_uint8,
)
from siren_inr.data import load_image
from siren_inr.errors import SirenInrError


@pytest.fixture(scope="module")
def image():
    return load_image("astronaut", 64)


def _psnr_reference(decoded_u8, original):
    mse = np.mean((decoded_u8.astype(np.float64) / 255 - original.astype(np.float64)) ** 2)
    return 10 * math.log10(1 / mse)


@pytest.mark.parametrize("codec, quality", [("jpeg", 30), ("jpeg2000", 20.0), ("webp", 30), ("avif", 30)])
def test_evaluate_reports_the_decoded_files_quality(image, codec, quality):
    point = evaluate(image, codec, quality)
    data = encode_classical(to_uint8(image), codec, quality)
    assert point.num_bytes == len(data)
    assert point.bpp == pytest.approx(8 * len(data) / (64 * 64))
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert point.psnr_db == pytest.approx(_psnr_reference(decoded, image), abs=1e-3)
    assert 0 < point.ssim <= 1


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_target_search_takes_the_largest_file_not_above_the_target(image, codec):
    target = 3.0
    point = at_target_bpp(image, codec, target)
    assert point is not None and point.bpp <= target
    if codec == "jpeg2000":
        assert point.bpp >= 0.85 * target  # the ratio bisection lands close below the budget
    elif point.quality < 100:
        bigger = len(encode_classical(to_uint8(image), codec, point.quality + 1))
        assert bigger * 8 / (64 * 64) > target or bigger <= point.num_bytes
    # A higher budget never gives a worse file.
    richer = at_target_bpp(image, codec, 5.0)
    assert richer.num_bytes >= point.num_bytes and richer.psnr_db >= point.psnr_db - 0.2


def test_unreachable_target_grey_images_and_bad_input(image):
    assert at_target_bpp(image, "jpeg", 0.01) is None  # JPEG headers alone exceed it
    grey = image[..., :1]
    assert evaluate(grey, "jpeg", 50).psnr_db > 20
    with pytest.raises(SirenInrError, match="accepted"):
        evaluate(image, "bpg", 50)
    with pytest.raises(SirenInrError, match="positive"):
        at_target_bpp(image, "jpeg", -1.0)
