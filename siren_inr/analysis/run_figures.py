"""A run's own outputs: its PNG images, the history CSV and the standard figures (comparison, history panels).

The train job writes them through here (fit/ draws nothing); the study figures of `analyze` reuse the panels.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from siren_inr.data.image import atomic_output, save_png
from siren_inr.data.pixels import to_uint8_png
from siren_inr.names import (COMPARISON_ARTIFACT, EPOCH_COLUMN, GROUND_TRUTH_ARTIFACT, HISTORY_ARTIFACT,
                             HISTORY_COLUMNS, HISTORY_CSV_COLUMNS, HISTORY_PLOT_ARTIFACT, LOSS_COLUMN, PSNR_COLUMN,
                             RECONSTRUCTION_ARTIFACT, RECONSTRUCTION_GRAY_ARTIFACT, SSIM_COLUMN, STEP_COLUMN)

# Every figure of the project is written at this resolution or finer (legend text stays legible).
FIGURE_DPI = 150
# Lines told apart by colour: Okabe & Ito's colour-blind-safe palette, then Paul Tol's muted dark colours for more
# lines than it has, and Okabe & Ito's yellow last (faint on white).
SAFE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                "#882255", "#332288", "#999933", "#44AA99", "#F0E442")


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg", force=False)  # figures are files; never open a window (headless machines, CI)
    import matplotlib.pyplot as plt

    return plt


def to_gray(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """Luma (ITU-R BT.601) of an [H, W, C] image in [0, 1]; grey images pass through."""
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[2] >= 3:
        return arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
    return arr[..., 0] if arr.ndim == 3 else arr


def write_history_csv(path: str | Path, history: list[dict]) -> Path:
    """History rows as CSV with the columns epoch, train_loss, train_psnr, train_ssim (and step)."""
    path = Path(path)
    with atomic_output(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HISTORY_CSV_COLUMNS)
        for row in history:
            writer.writerow([f"{row[EPOCH_COLUMN]:.10g}", *(repr(float(row[column])) for column in HISTORY_COLUMNS),
                             int(row[STEP_COLUMN])])
    return path


def read_history_csv(path: str | Path) -> list[dict]:
    """Rows of a history CSV as dicts of floats (step as int)."""
    with Path(path).open(newline="") as handle:
        return [{key: (int(value) if key == STEP_COLUMN else float(value)) for key, value in row.items()}
                for row in csv.DictReader(handle)]


# (history column, axis label, log scale): the panels of every history figure in the project.
HISTORY_PANELS = (
    (LOSS_COLUMN, "training loss (MSE on [-1, 1] values)", True),
    (PSNR_COLUMN, "PSNR (dB)", False),
    (SSIM_COLUMN, "SSIM", False),
)


def history_axes(title: str | None = None):
    """A figure with the three history panels (loss on a log scale, PSNR, SSIM) against epoch."""
    plt = _matplotlib()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (_, label, log) in zip(axes, HISTORY_PANELS):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig, axes


def plot_history_columns(axes, history, **style) -> None:
    """Draw one history (rows of dicts, or a DataFrame) on the three panels; non-finite points are skipped."""
    rows = history.to_dict("records") if hasattr(history, "to_dict") else list(history)
    epochs = np.array([float(row[EPOCH_COLUMN]) for row in rows])
    for ax, (column, _, log) in zip(axes, HISTORY_PANELS):
        if not rows or column not in rows[0]:
            continue
        values = np.array([float(row[column]) for row in rows])
        keep = np.isfinite(values) & ((values > 0) if log else True)
        ax.plot(epochs[keep], values[keep], **{"marker": "." if len(rows) < 60 else None, **style})


def save_figure(fig, path: str | Path, dpi: int = FIGURE_DPI) -> Path:
    """Write a figure as PNG (creating its folder, atomically) and free it; never below FIGURE_DPI."""
    plt = _matplotlib()
    path = Path(path)
    try:
        with atomic_output(path) as temporary:
            fig.savefig(temporary, dpi=max(int(dpi), FIGURE_DPI), format="png")
    finally:
        plt.close(fig)
    return path


def plot_history(history, path: str | Path, title: str = "") -> Path:
    """MSE (log scale), PSNR and SSIM against epoch, side by side."""
    fig, axes = history_axes(title)
    plot_history_columns(axes, history, color="#4c72b0", linewidth=1.5)
    fig.tight_layout()
    return save_figure(fig, path)


def comparison_titles(metrics: dict[str, float], title: str = "") -> dict[str, str]:
    """The titles of a comparison figure: the figure's own (`title`, may be empty) and one per panel."""
    return {"figure": title,
            "ground truth": "ground truth",
            "prediction": f"prediction\nPSNR {metrics['psnr']:.2f} dB  SSIM {metrics['ssim']:.4f}",
            "error": f"absolute error (luma)\nMSE {metrics['mse']:.3g}"}


def error_map(ground_truth, prediction) -> np.ndarray:
    """|ground truth - prediction| of the luma, in [0, 1] pixel units, [H, W]."""
    def unit(image):
        return to_uint8_png(image).astype(np.float32) / 255.0

    truth, guess = unit(ground_truth), unit(prediction)
    if truth.ndim == 2:
        truth, guess = truth[..., None], guess[..., None]
    return np.abs(to_gray(truth) - to_gray(guess))


def comparison_figure(ground_truth, prediction, metrics: dict[str, float], title: str = ""):
    """Ground truth, prediction and their absolute-error map (with its scale), titles in separate rows."""
    plt = _matplotlib()
    titles = comparison_titles(metrics, title)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 5.0), layout="constrained")
    for ax, image, key in ((axes[0], ground_truth, "ground truth"), (axes[1], prediction, "prediction")):
        arr = to_uint8_png(image)
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_axis_off()
        ax.set_title(titles[key], fontsize=10)
    errors = error_map(ground_truth, prediction)
    # Scaled to the largest error, so a 37 dB fit's errors are visible; the colour bar gives the scale.
    shown = axes[2].imshow(errors, cmap="magma", vmin=0, vmax=max(float(errors.max()), 1 / 255))
    axes[2].set_axis_off()
    axes[2].set_title(titles["error"], fontsize=10)
    fig.colorbar(shown, ax=axes[2], shrink=0.8, label="|error| (pixel value, 1 = full range)")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_comparison(ground_truth, prediction, metrics: dict[str, float], path: str | Path, title: str = "") -> Path:
    """Ground truth beside prediction and the error map, MSE/PSNR/SSIM in the titles."""
    return save_figure(comparison_figure(ground_truth, prediction, metrics, title), path)


def write_run_outputs(folder: str | Path, ground_truth, prediction, history: list[dict],
                      metrics: dict[str, float], title: str = "") -> Path:
    """Write images/, history/ and plots/ for one fit under `folder` (the artifact layout of a run)."""
    folder = Path(folder)
    save_png(folder / RECONSTRUCTION_ARTIFACT, prediction)
    save_png(folder / RECONSTRUCTION_GRAY_ARTIFACT, to_gray(prediction)[..., None])
    save_png(folder / GROUND_TRUTH_ARTIFACT, ground_truth)
    plot_comparison(ground_truth, prediction, metrics, folder / COMPARISON_ARTIFACT, title)
    if history:
        write_history_csv(folder / HISTORY_ARTIFACT, history)
        plot_history(history, folder / HISTORY_PLOT_ARTIFACT, title)
    return folder
