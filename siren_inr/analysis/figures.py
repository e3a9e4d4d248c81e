"""History plots (one run, and runs overlaid) and the reconstruction gallery."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (headless machines, CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from siren_inr.analysis.run_figures import (SAFE_COLOURS, history_axes, plot_history,  # noqa: E402
                                            plot_history_columns, save_figure)


def plot_run_history(history: pd.DataFrame, path: str | Path, title: str | None = None) -> Path:
    """Save one run's loss (log scale), PSNR and SSIM against epoch."""
    return plot_history(history, path, title or "")


OVERLAY_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
OVERLAY_LINESTYLES = ("-", "--", ":", "-.")


def overlay_styles(labels: list[str], groups: list[str] | None = None) -> list[dict[str, str]]:
    """The style of each overlaid run: its own colour and marker (distinct for up to 12 runs, e.g. every seed of a
    sweep), and a line style shared by the runs of one group (a setting whose seeds differ)."""
    groups = groups or labels
    order = list(dict.fromkeys(groups))
    return [{"color": SAFE_COLOURS[index % len(SAFE_COLOURS)],
             "marker": OVERLAY_MARKERS[index % len(OVERLAY_MARKERS)],
             "linestyle": OVERLAY_LINESTYLES[order.index(group) % len(OVERLAY_LINESTYLES)] if len(order) > 1
             else "-"}
            for index, group in enumerate(groups)]


def history_overlay_figure(histories: list[pd.DataFrame], labels: list[str], groups: list[str] | None = None,
                           title: str | None = None):
    """The histories of several runs overlaid, one legend entry per run (its colour and marker its own)."""
    fig, axes = history_axes(title)
    for history, label, style in zip(histories, labels, overlay_styles(labels, groups)):
        points = len(history)
        plot_history_columns(axes, history, linewidth=1.2, alpha=0.85, label=label, markersize=4,
                             markevery=max(1, points // 12), **style)
    handles, names = axes[1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="lower center", ncol=min(len(names), 4), fontsize=8, frameon=False)
        rows = math.ceil(len(names) / 4)
        fig.tight_layout(rect=(0, 0.06 * rows, 1, 1))
    else:
        fig.tight_layout()
    return fig


def plot_history_overlay(histories: list[pd.DataFrame], labels: list[str], path: str | Path,
                         groups: list[str] | None = None, title: str | None = None) -> Path:
    """Save the histories of several runs overlaid: each run its colour and marker, a group (e.g. the seeds of one
    setting) its line style."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(history_overlay_figure(histories, labels, groups, title), path)


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
