"""Benford statistics against known answers: formulas, scipy references, string-based digit counts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import skimage.data

from siren_inr.errors import SirenInrError
from siren_inr.metrics import benford as bf


def string_first_digit(value: float) -> int:
    """Leading significant digit read from the scientific-notation string (independent of log10)."""
    return int(format(abs(float(value)), ".16e")[0])


def test_benford_probabilities_formula():
    expected = [math.log10(1 + 1 / d) for d in range(1, 10)]
    np.testing.assert_allclose(bf.benford_probabilities(), expected, rtol=0, atol=1e-15)
    assert bf.benford_probabilities().sum() == pytest.approx(1.0, abs=1e-12)
    assert bf.benford_probabilities()[0] == pytest.approx(0.30103, abs=1e-5)


def test_leading_digits_hand_cases():
    values = [1, 12, 150, 0, 2, 25, 9, 0.03, -7, 1000, 0.001, 9.99, 0.0]
    assert bf.leading_digits(values).tolist() == [1, 1, 1, 2, 2, 9, 3, 7, 1, 1, 9]
    # Exact powers of ten are where log10 rounding would go wrong first.
    powers = [10.0 ** k for k in range(-12, 13)]
    assert bf.leading_digits(powers).tolist() == [1] * len(powers)
    assert bf.leading_digits([1e-9, 0.5], zero_tolerance=1e-6).tolist() == [5]
    assert bf.leading_digits([np.nan, np.inf, 0.0]).size == 0


def test_leading_digits_match_string_first_digit():
    rng = np.random.default_rng(0)
    values = np.concatenate([
        rng.integers(1, 10**6, 5000).astype(float),
        10.0 ** rng.uniform(-8, 8, 5000) * rng.choice([-1, 1], 5000),
    ])
    expected = [string_first_digit(v) for v in values]
    assert bf.leading_digits(values).tolist() == expected


def test_hand_computed_statistics():
    # Digits 1,1,1,2,2,3,7,9 -> counts below; n = 8.
    counts = np.array([3, 2, 1, 0, 0, 0, 1, 0, 1])
    fit = bf.benford_fit(counts)
    p = bf.BENFORD_PROBABILITIES
    expected_counts = 8 * p
    chi2_by_hand = float(np.sum((counts - expected_counts) ** 2 / expected_counts))
    assert fit.n == 8
    assert fit.proportions == pytest.approx((counts / 8).tolist())
    assert fit.chi2 == pytest.approx(chi2_by_hand, rel=1e-12)
    assert fit.p_value == pytest.approx(scipy.stats.chi2.sf(chi2_by_hand, df=8), rel=1e-10)
    mad_by_hand = sum(abs(c / 8 - math.log10(1 + 1 / d)) for d, c in zip(range(1, 10), counts)) / 9
    assert fit.mad == pytest.approx(mad_by_hand, rel=1e-12)
    assert fit.conformity == "nonconformity"


@pytest.mark.parametrize("mad, expected", [
    (0.0, "close"), (0.006, "close"), (0.0061, "acceptable"), (0.012, "acceptable"),
    (0.0121, "marginal"), (0.015, "marginal"), (0.0151, "nonconformity"), (0.2, "nonconformity"),
])
def test_nigrini_thresholds(mad, expected):
    assert bf.conformity_class(mad) == expected


def test_chi_square_matches_scipy_reference():
    rng = np.random.default_rng(1)
    for _ in range(5):
        counts = rng.integers(0, 500, 9)
        fit = bf.benford_fit(counts)
        ref = scipy.stats.chisquare(counts, f_exp=counts.sum() * bf.BENFORD_PROBABILITIES)
        assert fit.chi2 == pytest.approx(ref.statistic, rel=1e-12)
        assert fit.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_benford_samples_conform():
    # 10**U with U uniform over whole decades has Benford-distributed leading digits exactly.
    rng = np.random.default_rng(2)
    samples = 10.0 ** rng.uniform(0, 6, 50_000)
    fit = bf.benford_fit(bf.digit_counts(samples))
    assert fit.conformity == "close"
    assert fit.mad < 0.004
    assert fit.p_value > 0.01
    assert fit.js_to_benford_bits < 1e-4


def test_uniform_leading_digits_do_not_conform():
    rng = np.random.default_rng(3)
    digits = rng.integers(1, 10, 20_000)
    samples = digits * 10.0 ** rng.integers(0, 4, digits.size) + rng.uniform(0, 0.9, digits.size)
    fit = bf.benford_fit(bf.digit_counts(samples))
    assert fit.conformity == "nonconformity"
    assert fit.p_value < 1e-100
    # An exactly uniform distribution: MAD = mean |1/9 - P(d)|, far above Nigrini's 0.015.
    exact = bf.benford_fit(np.full(9, 100))
    assert exact.mad == pytest.approx(np.mean(np.abs(1 / 9 - bf.BENFORD_PROBABILITIES)))
    assert exact.mad > 0.05


def test_divergences_known_values_and_scipy():
    p = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    q = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    assert bf.kl_divergence_bits(p, q) == pytest.approx(1.0)
    assert bf.kl_divergence_bits(q, p) == math.inf
    # By hand: M = (3/4, 1/4); JS = 1/2 log2(4/3) + 1/4 (log2(2/3) + 1).
    by_hand = 0.5 * math.log2(4 / 3) + 0.25 * (math.log2(2 / 3) + 1)
    assert bf.js_divergence_bits(p, q) == pytest.approx(by_hand, rel=1e-12)
    rng = np.random.default_rng(4)
    for _ in range(5):
        a, b = rng.random(9), rng.random(9)
        assert bf.js_divergence_bits(a, b) == pytest.approx(
            scipy.spatial.distance.jensenshannon(a, b, base=2) ** 2, rel=1e-9)
        assert bf.kl_divergence_bits(a, b) == pytest.approx(
            scipy.stats.entropy(a, b, base=2), rel=1e-12)
    assert bf.js_divergence_bits(a, a) == pytest.approx(0.0, abs=1e-15)


def test_block_dct_matches_explicit_basis():
    rng = np.random.default_rng(5)
    channel = rng.integers(0, 256, (16, 24)).astype(np.uint8)
    coefficients = bf.block_dct_coefficients(channel)
    assert coefficients.shape == (6, 8, 8)
    # Orthonormal DCT-II matrix written out from its definition.
    k, n = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    basis = np.cos(np.pi * (2 * n + 1) * k / 16) * np.where(k == 0, math.sqrt(1 / 8), math.sqrt(2 / 8))
    shifted = channel.astype(float) - 128
    blocks = [shifted[r:r + 8, c:c + 8] for r in range(0, 16, 8) for c in range(0, 24, 8)]
    for got, block in zip(coefficients, blocks):
        np.testing.assert_allclose(got, basis @ block @ basis.T, atol=1e-9)
    # Flat block of value 136: only DC = 8 * (136 - 128) = 64; the AC residue counts as zero.
    flat = np.full((8, 8), 136, dtype=np.uint8)
    counts = bf.dct_digit_counts(flat)
    assert counts.tolist() == [[0, 0, 0, 0, 0, 1, 0, 0, 0]]
    assert bf.dct_digit_counts(flat, include_dc=False).sum() == 0
    with pytest.raises(SirenInrError, match="smaller than one 8x8"):
        bf.block_dct_coefficients(np.zeros((4, 30)))


def test_to_uint8_round_trip_and_errors():
    camera = skimage.data.camera()
    assert np.array_equal(bf.to_uint8(camera.astype(np.float32) / 255)[..., 0], camera)
    assert bf.to_uint8(np.array([[0.0, 1.0, 0.5]])).ravel().tolist() == [0, 255, 128]
    with pytest.raises(SirenInrError, match="NaN"):
        bf.to_uint8(np.full((2, 2), np.nan))
    with pytest.raises(SirenInrError, match="expected"):
        bf.to_uint8(np.zeros((2, 2, 2, 2)))


def test_cameraman_pixel_digits_match_string_computation():
    camera = skimage.data.camera()
    expected = np.zeros(9, dtype=int)
    for value in camera.ravel().tolist():
        if value:
            expected[int(str(value)[0]) - 1] += 1
    counts = bf.pixel_digit_counts(camera.astype(np.float32) / 255)
    assert counts.shape == (1, 9)
    assert counts[0].tolist() == expected.tolist()
    assert counts.sum() == np.count_nonzero(camera)


def test_cameraman_dct_digits_match_string_computation():
    camera = skimage.data.camera()
    coefficients = bf.block_dct_coefficients(camera).ravel()
    expected = np.zeros(9, dtype=int)
    for c in coefficients.tolist():
        if abs(c) > bf.DCT_ZERO_TOLERANCE:
            expected[string_first_digit(c) - 1] += 1
    assert bf.dct_digit_counts(camera)[0].tolist() == expected.tolist()
    # The first-digit law of natural images: cameraman's DCT coefficients follow Benford closely.
    fit = bf.benford_fit(expected)
    assert fit.mad < 0.012


def test_report_colour_channels_pooled_and_json(tmp_path):
    rng = np.random.default_rng(6)
    gt = rng.random((32, 24, 3)).astype(np.float32)
    pred = np.clip(gt + rng.normal(0, 0.05, gt.shape), 0, 1)
    report = bf.benford_report(gt, pred)
    assert len(report.pixels.channels) == 3 and len(report.dct.channels) == 3
    per_channel = np.array([c.ground_truth.counts for c in report.pixels.channels])
    assert report.pixels.pooled.ground_truth.counts == per_channel.sum(axis=0).tolist()
    assert per_channel.tolist() == bf.pixel_digit_counts(gt).tolist()
    comparison = report.dct.pooled
    assert comparison.js_gt_prediction_bits == pytest.approx(bf.js_divergence_bits(
        comparison.ground_truth.counts, comparison.prediction.counts))
    path = bf.write_benford_json(report, tmp_path / "benford.json")
    data = json.loads(path.read_text())
    assert data["benford"] == pytest.approx(bf.BENFORD_PROBABILITIES.tolist())
    assert data["pixels"]["pooled"]["ground_truth"]["counts"] == report.pixels.pooled.ground_truth.counts
    written = data["dct"]["pooled"]["prediction"]
    assert written["conformity"] == bf.conformity_class(written["mad"])  # the class of its own MAD, exactly
    assert written["conformity"] == comparison.prediction.conformity
    with pytest.raises(SirenInrError, match="does not match"):
        bf.benford_report(gt, pred[:16])


def test_infinite_kl_written_as_null(tmp_path):
    # Ground truth uses digits 1..8; the reconstruction only digit 1, so D(gt || rec) is infinite.
    gt = np.tile(np.array([10, 20, 30, 40, 50, 60, 70, 80], dtype=np.uint8), (8, 1))
    pred = np.full_like(gt, 10)
    report = bf.benford_report(gt, pred)
    assert report.pixels.pooled.kl_gt_to_prediction_bits == math.inf
    data = json.loads(bf.write_benford_json(report, tmp_path / "b.json").read_text())
    assert data["pixels"]["pooled"]["kl_gt_to_prediction_bits"] is None
    assert data["pixels"]["channels"] == []


def test_digit_reference_and_divergences_agree_with_the_report():
    # The RD study's per-file JSDs are benford_report's pooled ones: same 8-bit scale, same counts.
    rng = np.random.default_rng(3)
    original = np.clip(skimage.data.astronaut()[:96, :96] / 255.0, 0, 1)
    decoded = np.clip(original + rng.normal(0, 0.03, original.shape), 0, 1)
    reference = bf.digit_reference(original)
    report = bf.benford_report(original, decoded)
    assert reference.pixels.tolist() == report.pixels.pooled.ground_truth.counts
    assert reference.dct.tolist() == report.dct.pooled.ground_truth.counts
    jsd = bf.digit_divergences(reference, bf.to_uint8(decoded))
    assert list(jsd) == list(bf.BENFORD_JSD_COLUMNS)
    assert jsd[bf.BENFORD_JSD_PIXELS] == pytest.approx(report.pixels.pooled.js_gt_prediction_bits, abs=1e-15)
    assert jsd[bf.BENFORD_JSD_DCT] == pytest.approx(report.dct.pooled.js_gt_prediction_bits, abs=1e-15)
    assert 0 < jsd[bf.BENFORD_JSD_PIXELS] < 1 and 0 < jsd[bf.BENFORD_JSD_DCT] < 1
    # An identical reconstruction (float in [0, 1] or its 8-bit file) is at JSD 0 in both domains.
    assert bf.digit_divergences(reference, original) == {bf.BENFORD_JSD_PIXELS: 0.0, bf.BENFORD_JSD_DCT: 0.0}
    assert bf.digit_divergences(reference, bf.to_uint8(original)) == {bf.BENFORD_JSD_PIXELS: 0.0,
                                                                      bf.BENFORD_JSD_DCT: 0.0}
    # An all-black file has no pixel digits to compare: NaN, not an error.
    assert math.isnan(bf.digit_divergences(reference, np.zeros_like(original))[bf.BENFORD_JSD_PIXELS])


def test_pixel_counts_by_histogram_equal_counting_each_sample():
    samples = np.random.default_rng(4).integers(0, 256, size=(33, 17, 3), dtype=np.uint8)
    expected = [bf.digit_counts(samples[..., c]).tolist() for c in range(3)]
    assert bf.pixel_digit_counts(samples).tolist() == expected
    assert bf.pixel_digit_counts(samples).dtype == np.int64
