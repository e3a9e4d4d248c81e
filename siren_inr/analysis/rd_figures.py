"""Rate–distortion figures: PSNR–bpp and SSIM–bpp curves of every codec, with published curves where they compare."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.compression.bd import rd_front

_CLASSICAL_STYLE = {"jpeg": ("C0", "s"), "jpeg2000": ("C1", "^"), "webp": ("C2", "D"), "avif": ("C4", "v"),
                    "jxl": ("C6", "P"), "heic": ("C8", "X")}
_INR_STYLE = (("C3", "o"), ("k", "*"), ("C9", "h"))


def load_reference_curves(folder: str | Path | None) -> dict[str, dict[str, list[float]]]:
    """Published curves {name: {'bpp': [...], 'psnr': [...]}} from *.json files (empty if no folder)."""
    if folder is None or not Path(folder).is_dir():
        return {}
    curves = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            results = data["results"]
            curves[str(data.get("name", path.stem))] = {"bpp": list(map(float, results["bpp"])),
                                                         "psnr": list(map(float, results["psnr"]))}
        except (KeyError, TypeError, ValueError, json.JSONDecodeError):
            continue
    return curves


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_curves(curves: pd.DataFrame, path: Path, title: str, inr_codecs: Sequence[str] = ("coin",),
                references: dict[str, dict[str, list[float]]] | None = None, note: str | None = None) -> Path:
    """PSNR–bpp and SSIM–bpp panels, one line per codec through its rate–distortion front (hollow: settings off
    it; dashed: published PSNR curves). `note` is printed under the panels (e.g. why published curves are absent)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.0))
    inr_max = curves.loc[curves["codec"].isin(inr_codecs), "bpp"].max()
    limit = max(0.5, float(inr_max) * 1.6) if np.isfinite(inr_max) else None
    for codec, part in curves.groupby("codec", sort=False):
        part = part.dropna(subset=["bpp"]).sort_values("bpp")
        if limit is not None and codec not in inr_codecs:
            # The classical sweep ends one setting past the study's rates; draw up to just beyond them.
            beyond = part[part["bpp"] > limit]
            part = pd.concat([part[part["bpp"] <= limit], beyond.iloc[:1]])
        if codec in inr_codecs:
            color, marker = _INR_STYLE[list(inr_codecs).index(codec) % len(_INR_STYLE)]
            label, width = f"INR {codec} (ours)", 2.0
        else:
            (color, marker), label, width = _CLASSICAL_STYLE.get(codec, ("0.4", "x")), codec.upper(), 1.2
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
                     color=f"C{(index + 5) % 10}", label=f"{name} (published, full Kodak)")
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
