"""Rate–distortion figures: PSNR–bpp and SSIM–bpp curves of every codec, with published curves where they compare."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siren_inr.analysis.rd_reference import crop_mean, reference_crop, reference_curves_per_image
from siren_inr.compression.bd import rd_front
from siren_inr.compression.classical import CLASSICAL_CODECS, DISPLAY_NAMES, display_name
from siren_inr.metrics.benford import BENFORD_JSD_DCT, BENFORD_JSD_PIXELS

from siren_inr.analysis.run_figures import SAFE_COLOURS

# Markers per codec (colours: codec_colours; names: compression.classical.display_name): the classical codecs take
# these in their registry's order, so a newly registered codec gets a marker of its own.
_CLASSICAL_MARKERS = dict(zip(CLASSICAL_CODECS, ("s", "^", "D", "v", "P", "X", "<", ">", "p", "d", "H", "8")))
_INR_MARKERS = ("o", "*", "h")


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


def codec_name(codec: str) -> str:
    """A classical codec's name as the README writes it ('webp' -> 'WebP'); other names unchanged."""
    return display_name(codec)


def codec_colours(codecs: Sequence[str], inr_codecs: Sequence[str],
                  references: Sequence[str] = ()) -> dict[str, str]:
    """A distinct colour-blind-safe colour for every codec and reference curve of a figure, given in a fixed order
    (INR codecs, the classical codecs as DISPLAY_NAMES lists them, any others, then the references), so the figures
    of one study colour a codec alike."""
    present = list(dict.fromkeys(codecs))
    ordered = ([c for c in inr_codecs if c in present] + [c for c in DISPLAY_NAMES if c in present]
               + [c for c in present if c not in inr_codecs and c not in DISPLAY_NAMES])
    names = list(dict.fromkeys([*ordered, *(f"reference:{name}" for name in references)]))
    return {name: SAFE_COLOURS[index % len(SAFE_COLOURS)] for index, name in enumerate(names)}


def image_size_label(curves: pd.DataFrame) -> str | None:
    """The size of the images behind some RD points, e.g. '256x256 px': from their height and width columns, else
    from bytes and bpp (a mean curve); None where the images differ in size or the table cannot tell."""
    sized = curves.dropna(subset=["height", "width"]) if {"height", "width"} <= set(curves.columns) else curves[:0]
    if len(sized):
        sizes = set(zip(sized["height"].astype(int), sized["width"].astype(int)))
        if len(sizes) == 1:
            height, width = sizes.pop()
            return f"{width}x{height} px"
        return None
    if not {"num_bytes", "bpp"} <= set(curves.columns):
        return None
    rows = curves.dropna(subset=["num_bytes", "bpp"])
    rows = rows[rows["bpp"] > 0]
    if rows.empty:
        return None
    pixels = rows["num_bytes"].astype(float) * 8 / rows["bpp"].astype(float)
    count = round(float(pixels.median()))
    if count <= 0 or not np.allclose(pixels, count, rtol=1e-6, atol=0.5):
        return None  # images of different sizes: a mean of bytes over a mean of bpp is no image's size
    side = round(count ** 0.5)
    return f"{side}x{side} px" if side * side == count else f"{count:,} px each"


def rd_title(title: str, curves: pd.DataFrame, image_size: str | None = None) -> str:
    """A figure's title with the size of its images ('mean over 4 images, 256 px crops'): `image_size` where the
    caller knows it, else image_size_label of the points."""
    size = image_size or image_size_label(curves)
    return f"{title}, {size}" if size else title


def _style(codec: str, inr_codecs: Sequence[str], colours: dict[str, str]) -> tuple[str, str, str, float]:
    if codec in inr_codecs:
        marker = _INR_MARKERS[list(inr_codecs).index(codec) % len(_INR_MARKERS)]
        return colours[codec], marker, f"INR {codec} (ours)", 2.0
    return colours[codec], _CLASSICAL_MARKERS.get(codec, "x"), codec_name(codec), 1.2


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _drawn_curves(curves: pd.DataFrame, inr_codecs: Sequence[str], references: Sequence[str] = ()):
    """(codec, its points by bpp, its line style) of each codec; classical curves cut to the study's rates."""
    limit = rate_limit(curves, inr_codecs)
    colours = codec_colours(list(curves["codec"]), inr_codecs, references)
    for codec, part in curves.groupby("codec", sort=False):
        part = part.dropna(subset=["bpp"]).sort_values("bpp")
        if codec not in inr_codecs:
            part = within_rates(part, limit)
        yield codec, part, _style(codec, inr_codecs, colours)


def rd_curves_figure(curves: pd.DataFrame, title: str, inr_codecs: Sequence[str] = ("coin",),
                     references: dict[str, dict[str, list[float]]] | None = None, note: str | None = None,
                     image_size: str | None = None):
    """The figure plot_curves saves (see there)."""
    plt = _plt()
    references = references or {}
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.0))
    limit = rate_limit(curves, inr_codecs)
    colours = codec_colours(list(curves["codec"]), inr_codecs, list(references))
    for codec, part, (color, marker, label, width) in _drawn_curves(curves, inr_codecs, list(references)):
        # The line is the codec's rate–distortion front (what BD uses); a setting whose file is larger and no
        # better than a smaller one is drawn hollow, off the line.
        front = rd_front(part)
        off = part[~part.set_index(["bpp", "psnr_db"]).index.isin(front.set_index(["bpp", "psnr_db"]).index)]
        for ax, key in zip(axes, ("psnr_db", "ssim")):
            ax.plot(front["bpp"], front[key], marker=marker, markersize=4, color=color, label=label, linewidth=width)
            if len(off):
                ax.plot(off["bpp"], off[key], linestyle="none", marker=marker, markersize=5, color=color,
                        markerfacecolor="none")
    for name, ref in references.items():
        bpp = np.array(ref["bpp"])
        keep = bpp <= (limit or np.inf)
        axes[0].plot(bpp[keep], np.array(ref["psnr"])[keep], linestyle="--", linewidth=1, alpha=0.7,
                     color=colours[f"reference:{name}"], label=ref.get("label", f"{name} (published, full Kodak)"))
    fig.suptitle(rd_title(title, curves, image_size), fontsize=12)
    axes[0].set(xlabel="bits per pixel", ylabel="PSNR (dB)", title="PSNR")
    axes[1].set(xlabel="bits per pixel", ylabel="SSIM", title="SSIM")
    for ax in axes:
        ax.grid(alpha=0.3)
    # One legend beside both panels: inside, the published curves would cover our points.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    bottom = 0.0
    if note:
        # Under the panels and their axis labels, in the figure's own margin, wrapped to its width.
        note = textwrap.fill(note, 170)
        lines = note.count("\n") + 1
        fig.text(0.01, 0.01, note, fontsize=8, style="italic", va="bottom")
        bottom = 0.02 + 0.035 * lines
    fig.tight_layout(rect=(0, bottom, 0.84, 1))
    return fig


def plot_curves(curves: pd.DataFrame, path: Path, title: str, inr_codecs: Sequence[str] = ("coin",),
                references: dict[str, dict[str, list[float]]] | None = None, note: str | None = None,
                image_size: str | None = None) -> Path:
    """PSNR–bpp and SSIM–bpp panels, one line per codec through its rate–distortion front (hollow: settings off
    it; dashed: published PSNR curves), each codec its colour-blind-safe colour; the title says the images' size
    (`image_size`, e.g. '256 px crops', else read from the points). `note` is printed under the panels (e.g. why
    published curves are absent)."""
    plt = _plt()
    fig = rd_curves_figure(curves, title, inr_codecs, references, note, image_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def plot_benford_jsd(means: pd.DataFrame, path: Path, title: str, inr_codecs: Sequence[str] = ("coin",),
                     image_size: str | None = None) -> Path:
    """JSD (bits) of the decoded files' leading digits from the originals', against bpp on the mean curves: a
    panel for 8-bit pixels and one for 8x8 block-DCT coefficients, one line per codec, log-log (a JSD of 0,
    identical digit counts, has no place on the log axis and is left out)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.0))
    title = rd_title(title, means, image_size)
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
