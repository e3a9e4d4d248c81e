"""History plots (one run, and runs overlaid) and the reconstruction gallery."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (headless machines, CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from siren_inr.analysis.run_figures import history_axes, plot_history, plot_history_columns, save_figure  # noqa: E402


def plot_run_history(history: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """Save one run's loss (log scale), PSNR and SSIM against epoch."""
    return plot_history(history, path, title or "")


def plot_history_overlay(histories: list[pd.DataFrame], labels: list[str], path: str | Path,
                         groups: list[str] | None = None, title: str | None = None) -> Path:
    """Save the histories of several runs overlaid; runs of one group (e.g. seeds) share a colour and a legend entry."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    groups = groups or labels
    order = list(dict.fromkeys(groups))
    cmap = plt.get_cmap("tab10" if len(order) <= 10 else "tab20")
    fig, axes = history_axes(title)
    seen: set[str] = set()
    for history, label, group in zip(histories, labels, groups):
        colour = cmap(order.index(group) % cmap.N)
        legend = group if group not in seen else None
        seen.add(group)
        plot_history_columns(axes, history, color=colour, linewidth=1.2, alpha=0.85, label=legend)
    handles, names = axes[1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="lower center", ncol=min(len(names), 4), fontsize=8, frameon=False)
        rows = math.ceil(len(names) / 4)
        fig.tight_layout(rect=(0, 0.06 * rows, 1, 1))
    else:
        fig.tight_layout()
    return save_figure(fig, path)


def plot_gallery(tiles: list[tuple[str, np.ndarray]], path: str | Path, columns: int = 4,
                 tile_inches: float = 2.6) -> Path:
    """Save a grid of titled images ([H, W, C] uint8 or floats in [0, 1]), e.g. ground truth then predictions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = max(1, min(columns, len(tiles)))
    rows = max(1, math.ceil(len(tiles) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(tile_inches * columns, (tile_inches + 0.6) * rows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, image) in zip(axes.ravel(), tiles):
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        vmax = 255 if image.dtype == np.uint8 else 1.0
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
