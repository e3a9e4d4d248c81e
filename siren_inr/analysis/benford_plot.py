"""The Benford figure: leading-digit bars of ground truth and reconstruction with Benford's curve over them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (headless machines, CI)
import matplotlib.pyplot as plt  # noqa: E402

from siren_inr.analysis.run_figures import save_figure  # noqa: E402
from siren_inr.metrics.benford import BENFORD_PROBABILITIES, DIGITS, BenfordReport, DigitComparison  # noqa: E402


def _panel(ax, comparison: DigitComparison, title: str) -> None:
    width = 0.4
    gt = comparison.ground_truth
    has_pred = comparison.prediction is not None
    offset = width / 2 if has_pred else 0.0
    ax.bar(DIGITS - offset, gt.proportions, width, label=f"ground truth (MAD {gt.mad:.4f}, {gt.conformity})",
           color="#4c72b0")
    if has_pred:
        pred = comparison.prediction
        ax.bar(DIGITS + offset, pred.proportions, width,
               label=f"reconstruction (MAD {pred.mad:.4f}, {pred.conformity})", color="#dd8452")
    ax.plot(DIGITS, BENFORD_PROBABILITIES, "k-o", markersize=4, linewidth=1.5, label="Benford log10(1+1/d)")
    ax.set_xticks(DIGITS)
    ax.set_xlabel("leading digit")
    ax.set_ylabel("proportion")
    subtitle = f"n = {gt.n}"
    if has_pred and comparison.js_gt_prediction_bits is not None:
        subtitle += f", JS(gt, rec) = {comparison.js_gt_prediction_bits:.2e} bit"
    ax.set_title(f"{title}\n{subtitle}", fontsize=10)
    tallest = max(gt.proportions + (comparison.prediction.proportions if has_pred else []))
    ax.set_ylim(0, max(0.5, tallest * 1.15))
    ax.legend(fontsize=7, loc="upper right")


def plot_benford(report: BenfordReport, path: str | Path, title: str | None = None) -> Path:
    """Save `benford.png`: pixel and block-DCT leading digits (pooled over channels) against Benford."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    _panel(axes[0], report.pixels.pooled, "8-bit pixel values")
    dct_label = "8x8 block-DCT coefficients" + ("" if report.dct_include_dc else " (AC only)")
    _panel(axes[1], report.dct.pooled, dct_label)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)
