"""Classical codecs: decoded quality against independent computations (numpy PSNR, scikit-image SSIM), the
sweep over each codec's settings, and the bpp-target search."""

import io
import math

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from siren_inr.compression.classical import (
    CLASSICAL_CODECS,
    ClassicalPoint,
    at_target_bpp,
    encode_classical,
    evaluate,
    largest_not_above,
    sweep,
    sweep_settings,
)
from siren_inr.data import load_image
from siren_inr.data.pixels import to_uint8
from siren_inr.errors import SirenInrError
from siren_inr.metrics.benford import digit_reference


@pytest.fixture(scope="module")
def image():
    return load_image("astronaut", 64)


def _psnr_reference(decoded_u8, original):
    mse = np.mean((decoded_u8.astype(np.float64) / 255 - original.astype(np.float64)) ** 2)
    return 10 * math.log10(1 / mse)


def _decode_independently(data: bytes, codec: str) -> np.ndarray:
    if codec == "jxl":
        import imagecodecs

        return np.asarray(imagecodecs.jpegxl_decode(data))
    if codec == "heic":
        import pillow_heif

        return np.asarray(pillow_heif.read_heif(data).to_pillow().convert("RGB"))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


SETTINGS = [("jpeg", 30), ("jpeg2000", 20.0), ("webp", 30), ("avif", 30), ("jxl", 3.0), ("heic", 30)]


def test_every_codec_is_tested():
    assert sorted(codec for codec, _ in SETTINGS) == sorted(CLASSICAL_CODECS)


@pytest.mark.parametrize("codec, quality", SETTINGS)
def test_evaluate_reports_the_decoded_files_quality(image, codec, quality):
    point = evaluate(image, codec, quality)
    data = encode_classical(to_uint8(image), codec, quality)
    assert point.num_bytes == len(data)
    assert point.bpp == pytest.approx(8 * len(data) / (64 * 64))
    decoded = _decode_independently(data, codec)
    assert decoded.shape == (64, 64, 3)
    assert point.psnr_db == pytest.approx(_psnr_reference(decoded, image), abs=1e-3)
    # SSIM as scikit-image computes it (Gaussian window, sigma 1.5, population covariance: Wang et al. 2004),
    # averaged over every pixel with the borders mirrored (the project's convention; scikit-image's own mean
    # leaves out a 5-px border): both images are mirror-padded by the window radius, and the map cropped back.
    pad = ((5, 5), (5, 5), (0, 0))
    _, ssim_map = structural_similarity(np.pad(decoded.astype(np.float64) / 255, pad, mode="reflect"),
                                        np.pad(image.astype(np.float64), pad, mode="reflect"), data_range=1.0,
                                        channel_axis=2, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, full=True)
    expected = float(ssim_map[5:-5, 5:-5].mean())
    assert point.ssim == pytest.approx(expected, abs=1e-4)
    assert expected < 0.999  # a lossy file: the comparison is not between two perfect scores


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_sweep_spans_from_the_smallest_file_past_each_bound(image, codec):
    images = [image, image[::-1].copy()]
    bounds = [1.0, 2.5]
    curves = sweep(images, codec, bounds)
    settings = sweep_settings(codec)
    for curve, bound in zip(curves, bounds):
        assert [p.quality for p in curve] == settings[: len(curve)]  # the same settings for every image
        assert curve[0].quality == settings[0]  # starts at the codec's smallest file
        assert curve[-1].bpp > bound  # and reaches past the bound
        # Before the last setting at least one image or the mean was still at or below its bound.
    previous = [c[-2] for c in curves]
    assert any(p.bpp <= b for p, b in zip(previous, bounds)) or np.mean([p.bpp for p in previous]) <= np.mean(bounds)
    # Rising settings give larger files (a sweep orders them smallest first), up to a few bytes of noise.
    sizes = [p.num_bytes for p in curves[0]]
    assert sizes[-1] > sizes[0] and all(b >= 0.9 * a for a, b in zip(sizes, sizes[1:]))


def test_largest_not_above_picks_from_the_swept_files():
    points = [ClassicalPoint("jpeg", q, n, n * 8 / 100, 20 + q, 0.5) for q, n in ((1, 50), (2, 80), (3, 120))]
    assert largest_not_above(points, 80 * 8 / 100).quality == 2
    assert largest_not_above(points, 10.0).quality == 3  # bpp 4.0, 6.4, 9.6
    assert largest_not_above(points, 3.9) is None


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_target_search_takes_the_largest_file_not_above_the_target(image, codec):
    target = 3.0
    point = at_target_bpp(image, codec, target)
    assert point is not None and point.bpp <= target
    if codec in ("jpeg2000", "jxl"):
        assert point.bpp >= 0.85 * target  # the bisection over the continuous setting lands close below
    elif point.quality < 100:
        bigger = len(encode_classical(to_uint8(image), codec, point.quality + 1))
        assert bigger * 8 / (64 * 64) > target or bigger <= point.num_bytes
    # A higher budget never gives a worse file.
    richer = at_target_bpp(image, codec, 5.0)
    assert richer.num_bytes >= point.num_bytes and richer.psnr_db >= point.psnr_db - 0.2


def test_unreachable_target_grey_images_and_bad_input(image):
    assert at_target_bpp(image, "jpeg", 0.01) is None  # JPEG headers alone exceed it
    grey = image[..., :1]
    for codec in ("jpeg", "jxl", "heic"):
        point = evaluate(grey, codec, 50 if codec != "jxl" else 2.0)
        assert point.psnr_db > 20
    with pytest.raises(SirenInrError, match="accepted"):
        evaluate(image, "bpg", 50)
    with pytest.raises(SirenInrError, match="positive"):
        at_target_bpp(image, "jpeg", -1.0)
    with pytest.raises(SirenInrError, match="bound per image"):
        sweep([image], "jpeg", [1.0, 2.0])


def test_heavy_jpeg_leaves_a_larger_dct_digit_trace_than_light_jpeg():
    # Real files of cameraman (512x512): quality 2 quantizes the 8x8 DCT coefficients far more coarsely than
    # quality 95, so their leading digits move further from the original's (about 0.03 against 0.002 bits).
    camera = load_image("cameraman", None)
    heavy, light = evaluate(camera, "jpeg", 2), evaluate(camera, "jpeg", 95)
    assert heavy.benford_jsd_dct > 3 * light.benford_jsd_dct > 0
    assert heavy.benford_jsd_pixels > 3 * light.benford_jsd_pixels > 0


def test_sweep_counts_each_originals_digits_once_with_the_same_result(image):
    curves = sweep([image], "jpeg", [0.5])
    given = sweep([image], "jpeg", [0.5], digits=[digit_reference(image)])
    for mine, theirs in zip(curves[0], given[0]):
        assert math.isfinite(mine.benford_jsd_pixels) and math.isfinite(mine.benford_jsd_dct)
        assert (mine.benford_jsd_pixels, mine.benford_jsd_dct) == (theirs.benford_jsd_pixels, theirs.benford_jsd_dct)
    point = evaluate(image, "webp", 50)
    assert point == evaluate(image, "webp", 50, digit_reference(image))
    with pytest.raises(SirenInrError, match="digit reference per image"):
        sweep([image], "jpeg", [0.5], digits=[])

