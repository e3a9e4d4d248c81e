"""Files a fit leaves behind: PNG images, the history CSV and the standard figures."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

HISTORY_COLUMNS = ("epoch", "train_loss", "train_psnr", "train_ssim")


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def to_uint8(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """[H, W, C] float in [0, 1] -> uint8 [H, W] (grey) or [H, W, 3]/[H, W, C]."""
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    arr = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr


def to_gray(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """Luma (ITU-R BT.601) of an [H, W, C] image in [0, 1]; grey images pass through."""
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[2] >= 3:
        return arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
    return arr[..., 0] if arr.ndim == 3 else arr


def save_png(path: str | Path, image: np.ndarray | torch.Tensor) -> Path:
    """Write an [H, W, C] or [H, W] image in [0, 1] as an 8-bit PNG."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image)).save(path)
    return path


def write_history_csv(path: str | Path, history: list[dict]) -> Path:
    """History rows as CSV with the columns epoch, train_loss, train_psnr, train_ssim (and step)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*HISTORY_COLUMNS, "step"])
        for row in history:
            writer.writerow([f"{row['epoch']:.10g}", repr(float(row["train_loss"])), repr(float(row["train_psnr"])),
                             repr(float(row["train_ssim"])), int(row["step"])])
    return path


def read_history_csv(path: str | Path) -> list[dict]:
    """Rows of a history CSV as dicts of floats (step as int)."""
    with Path(path).open(newline="") as handle:
        return [{key: (int(value) if key == "step" else float(value)) for key, value in row.items()}
                for row in csv.DictReader(handle)]


def plot_history(history: list[dict], path: str | Path, title: str = "") -> Path:
    """MSE (log scale), PSNR and SSIM against epoch, side by side."""
    plt = _matplotlib()
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    series = (("train_loss", "MSE (training loss)", True), ("train_psnr", "PSNR (dB)", False),
              ("train_ssim", "SSIM", False))
    for ax, (key, label, log) in zip(axes, series):
        ax.plot(epochs, [row[key] for row in history], marker="." if len(history) < 60 else None)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(ground_truth, prediction, metrics: dict[str, float], path: str | Path, title: str = "") -> Path:
    """Ground truth beside prediction, MSE/PSNR/SSIM in the titles."""
    plt = _matplotlib()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.8))
    for ax, image, name in ((axes[0], ground_truth, "ground truth"), (axes[1], prediction, "prediction")):
        arr = to_uint8(image)
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_axis_off()
        ax.set_title(name)
    axes[1].set_title(f"prediction\nMSE {metrics['mse']:.3g}  PSNR {metrics['psnr']:.2f} dB  SSIM {metrics['ssim']:.4f}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_run_outputs(folder: str | Path, ground_truth, prediction, history: list[dict],
                      metrics: dict[str, float], title: str = "") -> Path:
    """Write images/, history/ and plots/ for one fit under `folder` (the artifact layout of a run)."""
    folder = Path(folder)
    save_png(folder / "images" / "reconstruction.png", prediction)
    save_png(folder / "images" / "reconstruction_gray.png", to_gray(prediction)[..., None])
    save_png(folder / "images" / "ground_truth.png", ground_truth)
    plot_comparison(ground_truth, prediction, metrics, folder / "images" / "comparison.png", title)
    if history:
        write_history_csv(folder / "history" / "history.csv", history)
        plot_history(history, folder / "plots" / "history.png", title)
    return folder
