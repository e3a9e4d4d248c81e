"""PSNR, SSIM and MSE against independent references (the formula; scikit-image's SSIM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from siren_inr.metrics import mse, psnr_db, ssim


def _pair(seed=0, shape=(32, 32, 3), noise=0.05):
    rng = np.random.default_rng(seed)
    target = rng.random(shape).astype(np.float32)
    pred = np.clip(target + rng.normal(0, noise, shape), 0, 1).astype(np.float32)
    return pred, target


def test_psnr_is_minus_ten_log_mse():
    pred, target = _pair()
    expected_mse = float(np.mean((pred.astype(np.float64) - target) ** 2))
    assert mse(pred, target) == pytest.approx(expected_mse, rel=1e-5)
    assert psnr_db(pred, target) == pytest.approx(-10 * math.log10(expected_mse), rel=1e-5)


def test_psnr_accepts_tensors_and_layouts():
    pred, target = _pair(shape=(16, 16, 1))
    as_hwc = psnr_db(torch.from_numpy(pred), torch.from_numpy(target))
    as_hw = psnr_db(pred[..., 0], target[..., 0])
    as_nchw = psnr_db(torch.from_numpy(pred).permute(2, 0, 1)[None], torch.from_numpy(target).permute(2, 0, 1)[None])
    assert as_hwc == pytest.approx(as_hw, rel=1e-6) == pytest.approx(as_nchw, rel=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_scikit_image(channels):
    pred, target = _pair(shape=(48, 48, channels), noise=0.1)
    reference = structural_similarity(target, pred, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False, channel_axis=-1)
    assert ssim(pred, target) == pytest.approx(reference, abs=2e-3)


def test_ssim_identical_is_one_and_small_images_work():
    image = np.random.default_rng(3).random((8, 8, 1)).astype(np.float32)
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-6)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        psnr_db(np.zeros((4, 4, 1)), np.zeros((4, 5, 1)))
