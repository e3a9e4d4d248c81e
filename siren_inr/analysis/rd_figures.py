"""Rate–distortion figures: PSNR–bpp and SSIM–bpp curves of every codec, with published curves where they compare."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siren_inr.analysis.rd_reference import crop_mean, reference_crop, reference_curves_per_image
from siren_inr.compression.bd import rd_front
from siren_inr.metrics.benford import BENFORD_JSD_DCT, BENFORD_JSD_PIXELS

_CLASSICAL_STYLE = {"jpeg": ("C0", "s"), "jpeg2000": ("C1", "^"), "webp": ("C2", "D"), "avif": ("C4", "v"),
                    "jxl": ("C6", "P"), "heic": ("C8", "X")}
_INR_STYLE = (("C3", "o"), ("k", "*"), ("C9", "h"))


def load_reference_curves(folder: str | Path | None, crop: int | None = None,
                          images: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Reference mean curves {name: {'bpp': [...], 'psnr': [...], 'label': ...}} from *.json files measured like
    the study (empty if no folder): full-image files when `crop` is None; else files declaring that crop, their
    mean taken over the study's `images` (rd_reference.crop_mean; skipped when it has none)."""
    if folder is None or not Path(folder).is_dir():
        return {}
    curves = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            results = data["results"]
            if reference_crop(data) != crop:
                continue
            name = str(data.get("name", path.stem))
            if crop is None:
                curves[name] = {"bpp": list(map(float, results["bpp"])), "psnr": list(map(float, results["psnr"])),
                                "label": f"{name} (published, full Kodak)"}
                continue
            mean = crop_mean(reference_curves_per_image(results), images)
            if mean is not None:
                curves[name] = {"bpp": mean["bpp"].tolist(), "psnr": mean["psnr_db"].tolist(),
                                "label": f"{name} (same {crop} px crops)"}
        except (AttributeError, KeyError, TypeError, ValueError, json.JSONDecodeError):
            continue
    return curves


def rate_limit(curves: pd.DataFrame, inr_codecs: Sequence[str]) -> float | None:
    """The bpp up to which the figures draw classical curves: 1.6 x the largest INR rate, at least 0.5 (None
    without INR points)."""
    inr_max = curves.loc[curves["codec"].isin(inr_codecs), "bpp"].max()
    return max(0.5, float(inr_max) * 1.6) if np.isfinite(inr_max) else None


def within_rates(part: pd.DataFrame, limit: float | None) -> pd.DataFrame:
    """A classical curve sorted by bpp up to `limit`, plus its first point beyond (the sweep ends one setting
    past the study's rates; drawn up to just beyond them)."""
    part = part.dropna(subset=["bpp"]).sort_values("bpp")
    if limit is None:
        return part
    return pd.concat([part[part["bpp"] <= limit], part[part["bpp"] > limit].iloc[:1]])


def _style(codec: str, inr_codecs: Sequence[str]) -> tuple[str, str, str, float]:
    if codec in inr_codecs:
        color, marker = _INR_STYLE[list(inr_codecs).index(codec) % len(_INR_STYLE)]
        return color, marker, f"INR {codec} (ours)", 2.0
    color, marker = _CLASSICAL_STYLE.get(codec, ("0.4", "x"))
    return color, marker, codec.upper(), 1.2


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _drawn_curves(curves: pd.DataFrame, inr_codecs: Sequence[str]):
    """(codec, its points by bpp, its line style) of each codec; classical curves cut to the study's rates."""
    limit = rate_limit(curves, inr_codecs)
    for codec, part in curves.groupby("codec", sort=False):
        part = part.dropna(subset=["bpp"]).sort_values("bpp")
        if codec not in inr_codecs:
            part = within_rates(part, limit)
        yield codec, part, _style(codec, inr_codecs)


def plot_curves(curves: pd.DataFrame, path: Path, title: str, inr_codecs: Sequence[str] = ("coin",),
                references: dict[str, dict[str, list[float]]] | None = None, note: str | None = None) -> Path:
    """PSNR–bpp and SSIM–bpp panels, one line per codec through its rate–distortion front (hollow: settings off
    it; dashed: published PSNR curves). `note` is printed under the panels (e.g. why published curves are absent)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.0))
    limit = rate_limit(curves, inr_codecs)
    for codec, part, (color, marker, label, width) in _drawn_curves(curves, inr_codecs):
        # The line is the codec's rate–distortion front (what BD uses); a setting whose file is larger and no
        # better than a smaller one is drawn hollow, off the line.
        front = rd_front(part)
        off = part[~part.set_index(["bpp", "psnr_db"]).index.isin(front.set_index(["bpp", "psnr_db"]).index)]
        for ax, key in zip(axes, ("psnr_db", "ssim")):
            ax.plot(front["bpp"], front[key], marker=marker, markersize=4, color=color, label=label, linewidth=width)
            if len(off):
                ax.plot(off["bpp"], off[key], linestyle="none", marker=marker, markersize=5, color=color,
                        markerfacecolor="none")
    for index, (name, ref) in enumerate((references or {}).items()):
        bpp = np.array(ref["bpp"])
        keep = bpp <= (limit or np.inf)
        axes[0].plot(bpp[keep], np.array(ref["psnr"])[keep], linestyle="--", linewidth=1, alpha=0.7,
                     color=f"C{(index + 5) % 10}", label=ref.get("label", f"{name} (published, full Kodak)"))
    axes[0].set(xlabel="bits per pixel", ylabel="PSNR (dB)", title=f"{title}: PSNR")
    axes[1].set(xlabel="bits per pixel", ylabel="SSIM", title=f"{title}: SSIM")
    for ax in axes:
        ax.grid(alpha=0.3)
    # One legend beside both panels: inside, the published curves would cover our points.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    bottom = 0.0
    if note:
        fig.text(0.01, 0.01, note, fontsize=8, style="italic")
        bottom = 0.05
    fig.tight_layout(rect=(0, bottom, 0.84, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_benford_jsd(means: pd.DataFrame, path: Path, title: str, inr_codecs: Sequence[str] = ("coin",)) -> Path:
    """JSD (bits) of the decoded files' leading digits from the originals', against bpp on the mean curves: a
    panel for 8-bit pixels and one for 8x8 block-DCT coefficients, one line per codec, log-log (a JSD of 0,
    identical digit counts, has no place on the log axis and is left out)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.0))
    for _, part, (color, marker, label, width) in _drawn_curves(means, inr_codecs):
        for ax, key in zip(axes, (BENFORD_JSD_PIXELS, BENFORD_JSD_DCT)):
            shown = part[part[key] > 0] if key in part else part.iloc[:0]
            ax.plot(shown["bpp"], shown[key], marker=marker, markersize=4, color=color, label=label, linewidth=width)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for ax, domain in zip(axes, ("8-bit pixels", "8x8 block-DCT coefficients")):
        ax.set(xscale="log", yscale="log", xlabel="bits per pixel", ylabel="JSD from the original's digits (bits)",
               title=f"{title}: leading digits of {domain}")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # bpp read as 0.1, 0.2, 0.5, 1, ...
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
