"""Benford's-law statistics of images: leading digits of 8-bit pixels and of 8x8 block-DCT coefficients.

Everything here is numpy/scipy only. The figure lives in `siren_inr.analysis.benford_plot`; this module
computes the numbers and writes them as JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft
import scipy.stats

from siren_inr.data.pixels import to_uint8  # noqa: F401  (the one 8-bit conversion; bf.to_uint8 kept)
from siren_inr.errors import SirenInrError

DIGITS = np.arange(1, 10)
# P(d) = log10(1 + 1/d) for d = 1..9; the nine values sum to log10(10) = 1 exactly (telescoping).
BENFORD_PROBABILITIES = np.log10(1.0 + 1.0 / DIGITS)

# Nigrini's first-digit MAD thresholds (upper bounds, inclusive), in order of decreasing conformity.
NIGRINI_FIRST_DIGIT_THRESHOLDS: tuple[tuple[float, str], ...] = (
    (0.006, "close"),
    (0.012, "acceptable"),
    (0.015, "marginal"),
)
NONCONFORMITY = "nonconformity"

DCT_BLOCK = 8
# JPEG's level shift: centring 8-bit samples on zero makes the DC term small for mid-grey blocks.
DCT_LEVEL_SHIFT = 128.0
# A DCT coefficient that is zero in exact arithmetic (flat block) comes out of floating point as ~1e-14;
# anything this small is treated as zero. 8-bit inputs give non-zero coefficients far above it.
DCT_ZERO_TOLERANCE = 1e-6


def benford_probabilities() -> np.ndarray:
    """Benford's first-digit probabilities P(d) = log10(1 + 1/d) for d = 1..9."""
    return BENFORD_PROBABILITIES.copy()


def leading_digits(values: Any, zero_tolerance: float = 0.0) -> np.ndarray:
    """Leading significant digit (1..9) of every value with |value| > zero_tolerance (others are dropped)."""
    magnitudes = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    magnitudes = magnitudes[np.isfinite(magnitudes) & (magnitudes > zero_tolerance)]
    if magnitudes.size == 0:
        return np.zeros(0, dtype=np.int64)
    exponents = np.floor(np.log10(magnitudes))
    mantissas = magnitudes / np.power(10.0, exponents)
    # log10 can land one ulp on the wrong side of an integer (e.g. 1000 -> 2.9999...), so renormalise.
    too_big = mantissas >= 10.0
    mantissas[too_big] /= 10.0
    too_small = mantissas < 1.0
    mantissas[too_small] *= 10.0
    return np.clip(np.floor(mantissas), 1, 9).astype(np.int64)


def digit_counts(values: Any, zero_tolerance: float = 0.0) -> np.ndarray:
    """Counts of leading digits 1..9 (index 0 is digit 1) of the non-zero values."""
    digits = leading_digits(values, zero_tolerance)
    return np.bincount(digits, minlength=10)[1:10].astype(np.int64)


def block_dct_coefficients(channel: Any, block: int = DCT_BLOCK, level_shift: float = DCT_LEVEL_SHIFT) -> np.ndarray:
    """Orthonormal 2-D DCT-II of each block x block tile of a [H, W] channel: array [n_blocks, block, block].

    Rows and columns beyond the last whole block are cropped, as a block codec would pad them instead.
    """
    samples = np.asarray(channel, dtype=np.float64)
    if samples.ndim != 2:
        raise SirenInrError(f"channel of shape {samples.shape}: expected [H, W]")
    rows, cols = samples.shape[0] // block, samples.shape[1] // block
    if rows == 0 or cols == 0:
        raise SirenInrError(f"image of {samples.shape[0]}x{samples.shape[1]} px is smaller than one "
                            f"{block}x{block} DCT block")
    cropped = samples[: rows * block, : cols * block] - level_shift
    tiles = cropped.reshape(rows, block, cols, block).transpose(0, 2, 1, 3).reshape(rows * cols, block, block)
    return scipy.fft.dctn(tiles, type=2, axes=(1, 2), norm="ortho")


def conformity_class(mad: float) -> str:
    """Nigrini's first-digit conformity class for a mean absolute deviation from Benford."""
    for upper, name in NIGRINI_FIRST_DIGIT_THRESHOLDS:
        if mad <= upper:
            return name
    return NONCONFORMITY


def _normalise(counts: Any) -> np.ndarray:
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    if array.shape != (9,) or np.any(array < 0) or total <= 0:
        raise SirenInrError(f"digit distribution {array.tolist()}: expected nine non-negative numbers, not all zero")
    return array / total


def kl_divergence_bits(p: Any, q: Any) -> float:
    """Kullback-Leibler divergence D(p || q) in bits; inf where q is 0 but p is not."""
    p, q = _normalise(p), _normalise(q)
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    return float(np.sum(p[support] * np.log2(p[support] / q[support])))


def js_divergence_bits(p: Any, q: Any) -> float:
    """Jensen-Shannon divergence in bits (symmetric, between 0 and 1)."""
    p, q = _normalise(p), _normalise(q)
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence_bits(p, m) + 0.5 * kl_divergence_bits(q, m)


@dataclass(frozen=True)
class DigitFit:
    """How one leading-digit distribution compares with Benford's law."""

    counts: list[int]
    n: int
    proportions: list[float]
    chi2: float
    p_value: float
    mad: float
    conformity: str
    kl_to_benford_bits: float
    js_to_benford_bits: float


def benford_fit(counts: Any) -> DigitFit:
    """Chi-square test (8 degrees of freedom), MAD with Nigrini's class and divergences against Benford."""
    observed = np.asarray(counts, dtype=np.int64)
    if observed.shape != (9,) or np.any(observed < 0):
        raise SirenInrError(f"digit counts {np.asarray(counts).tolist()}: expected nine non-negative integers")
    n = int(observed.sum())
    if n == 0:
        raise SirenInrError("no non-zero values: a leading-digit distribution needs at least one")
    proportions = observed / n
    test = scipy.stats.chisquare(observed, f_exp=n * BENFORD_PROBABILITIES)
    mad = float(np.mean(np.abs(proportions - BENFORD_PROBABILITIES)))
    return DigitFit(
        counts=observed.tolist(),
        n=n,
        proportions=proportions.tolist(),
        chi2=float(test.statistic),
        p_value=float(test.pvalue),
        mad=mad,
        conformity=conformity_class(mad),
        kl_to_benford_bits=kl_divergence_bits(proportions, BENFORD_PROBABILITIES),
        js_to_benford_bits=js_divergence_bits(proportions, BENFORD_PROBABILITIES),
    )


# Leading digit of each 8-bit value 1..255 (index v - 1): counting pixels is then a histogram, not 10^x per pixel.
_UINT8_LEADING_DIGITS = leading_digits(np.arange(1, 256))


def pixel_digit_counts(image: Any) -> np.ndarray:
    """Leading-digit counts of the 8-bit samples of each channel (zeros excluded): array [C, 9]."""
    samples = to_uint8(image)
    per_channel = []
    for c in range(samples.shape[2]):
        histogram = np.bincount(samples[..., c].ravel(), minlength=256)[1:]
        per_channel.append(np.bincount(_UINT8_LEADING_DIGITS, weights=histogram, minlength=10)[1:10])
    return np.stack(per_channel).astype(np.int64)


def dct_digit_counts(image: Any, block: int = DCT_BLOCK, include_dc: bool = True) -> np.ndarray:
    """Leading-digit counts of the block-DCT coefficients of each channel's 8-bit samples: array [C, 9]."""
    samples = to_uint8(image)
    per_channel = []
    for c in range(samples.shape[2]):
        coefficients = block_dct_coefficients(samples[..., c], block)
        if not include_dc:
            coefficients = coefficients.reshape(len(coefficients), -1)[:, 1:]
        per_channel.append(digit_counts(coefficients, zero_tolerance=DCT_ZERO_TOLERANCE))
    return np.stack(per_channel)


# Table columns of the rate–distortion study: each decoded file's JSD (bits) from its original's digits.
BENFORD_JSD_PIXELS = "benford_jsd_pixels"
BENFORD_JSD_DCT = "benford_jsd_dct"
BENFORD_JSD_COLUMNS = (BENFORD_JSD_PIXELS, BENFORD_JSD_DCT)


@dataclass(frozen=True)
class DigitReference:
    """An original image's leading-digit counts pooled over channels, counted once and compared with every
    decoded file of it (`digit_divergences`)."""

    pixels: np.ndarray  # [9] counts of digits 1..9 of the 8-bit samples
    dct: np.ndarray  # [9] counts of digits 1..9 of the 8x8 block-DCT coefficients (DC included)


def digit_reference(image: Any) -> DigitReference:
    """The pooled pixel and block-DCT digit counts of an image (float in [0, 1] or 8-bit), as benford_report counts
    them."""
    samples = to_uint8(image)
    return DigitReference(pixels=pixel_digit_counts(samples).sum(axis=0), dct=dct_digit_counts(samples).sum(axis=0))


def digit_references(images: Any, given: Any = None) -> list[DigitReference]:
    """Each image's `digit_reference`, or `given` (a caller's, counted once for many files) as a list."""
    return [digit_reference(image) for image in images] if given is None else list(given)


def _js_or_nan(reference: np.ndarray, counts: np.ndarray) -> float:
    # A decoded image with no non-zero value in a domain (all black) has no digit distribution to compare.
    return js_divergence_bits(reference, counts) if counts.sum() > 0 and reference.sum() > 0 else math.nan


def digit_divergences(reference: DigitReference, decoded: Any) -> dict[str, float]:
    """JSD in bits of a decoded image's pooled leading digits from its original's, keyed by BENFORD_JSD_COLUMNS:
    pixels and 8x8 block-DCT coefficients, on 8-bit values 0..255 (0 for an identical image)."""
    other = digit_reference(decoded)
    return {BENFORD_JSD_PIXELS: _js_or_nan(reference.pixels, other.pixels),
            BENFORD_JSD_DCT: _js_or_nan(reference.dct, other.dct)}


@dataclass(frozen=True)
class DigitComparison:
    """Ground truth and (optionally) reconstruction of one leading-digit distribution."""

    ground_truth: DigitFit
    prediction: DigitFit | None = None
    kl_gt_to_prediction_bits: float | None = None
    js_gt_prediction_bits: float | None = None


def compare_counts(gt_counts: Any, prediction_counts: Any | None) -> DigitComparison:
    """Benford fits of both distributions and the divergences between them."""
    gt = benford_fit(gt_counts)
    if prediction_counts is None:
        return DigitComparison(ground_truth=gt)
    pred = benford_fit(prediction_counts)
    return DigitComparison(
        ground_truth=gt,
        prediction=pred,
        kl_gt_to_prediction_bits=kl_divergence_bits(gt.proportions, pred.proportions),
        js_gt_prediction_bits=js_divergence_bits(gt.proportions, pred.proportions),
    )


@dataclass(frozen=True)
class DomainReport:
    """One domain (pixels or DCT): the pooled distribution and, for colour, one per channel."""

    pooled: DigitComparison
    channels: list[DigitComparison] = field(default_factory=list)


@dataclass(frozen=True)
class BenfordReport:
    """Benford statistics of a ground-truth image and its reconstruction."""

    pixels: DomainReport
    dct: DomainReport
    height: int
    width: int
    channels: int
    dct_block: int = DCT_BLOCK
    dct_include_dc: bool = True


def _domain(gt_counts: np.ndarray, pred_counts: np.ndarray | None) -> DomainReport:
    pooled = compare_counts(gt_counts.sum(axis=0), None if pred_counts is None else pred_counts.sum(axis=0))
    channels = []
    if gt_counts.shape[0] > 1:
        channels = [compare_counts(gt_counts[c], None if pred_counts is None else pred_counts[c])
                    for c in range(gt_counts.shape[0])]
    return DomainReport(pooled=pooled, channels=channels)


def benford_report(ground_truth: Any, prediction: Any | None = None, include_dc: bool = True) -> BenfordReport:
    """Leading-digit statistics of pixels and 8x8 block-DCT coefficients, for ground truth and reconstruction."""
    gt = to_uint8(ground_truth)
    pred = None if prediction is None else to_uint8(prediction)
    if pred is not None and pred.shape != gt.shape:
        raise SirenInrError(f"prediction of shape {pred.shape} does not match ground truth {gt.shape}")
    return BenfordReport(
        pixels=_domain(pixel_digit_counts(gt), None if pred is None else pixel_digit_counts(pred)),
        dct=_domain(dct_digit_counts(gt, include_dc=include_dc),
                    None if pred is None else dct_digit_counts(pred, include_dc=include_dc)),
        height=int(gt.shape[0]),
        width=int(gt.shape[1]),
        channels=int(gt.shape[2]),
        dct_include_dc=include_dc,
    )


def _json_safe(value: Any) -> Any:
    # JSON has no infinity: an infinite KL (a digit the reconstruction never produces) is written as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def report_to_dict(report: BenfordReport) -> dict[str, Any]:
    """A JSON-ready dict of the report, with Benford's probabilities alongside for reference."""
    data = asdict(report)
    data["digits"] = DIGITS.tolist()
    data["benford"] = BENFORD_PROBABILITIES.tolist()
    data["nigrini_thresholds"] = {name: upper for upper, name in NIGRINI_FIRST_DIGIT_THRESHOLDS}
    return _json_safe(data)


def write_benford_json(report: BenfordReport, path: str | Path) -> Path:
    """Write the report as `benford.json` (or the given path); infinite divergences become null."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_to_dict(report), indent=2, allow_nan=False) + "\n")
    return path
