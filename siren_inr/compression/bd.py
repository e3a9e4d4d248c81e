"""Rate–distortion curves and Bjøntegaard deltas, the way the field computes them.

- A codec's mean curve (`mean_curves`): for a classical codec the mean bpp, PSNR and SSIM over all images at
  each of its settings; for an INR codec at each ladder point. A mean point exists only where every image of
  the study has one, never as a mean over a changing subset of images.
- BD-rate and BD-PSNR (`bd_metrics`, via `bjontegaard`) are averages over the range where the two curves
  overlap: BD-rate over the common PSNR range (the test's % bits at equal quality, negative = fewer bits),
  BD-PSNR over the common log-bpp range (dB at equal rate, positive = better). Where a delta cannot be
  computed its note says why in words ("no overlap: INR 0.43-0.88 bpp, JPEG 0.87-2.1 bpp"); never a bare NaN.
- Each curve enters as its rate–distortion front: sorted by bpp, keeping the points whose PSNR rises
  (a file that is larger and no better than a smaller one is not on the codec's curve).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from siren_inr.compression.classical import display_name
from siren_inr.errors import SirenInrError
from siren_inr.metrics.benford import BENFORD_JSD_COLUMNS

BD_METHODS = ("akima", "pchip", "cubic")
CURVE_KEYS = ["bpp", "psnr_db", "ssim", "num_bytes"]
# Also averaged onto the mean curves when the table has them, after the columns above (older tables lack them).
OPTIONAL_CURVE_KEYS = [*BENFORD_JSD_COLUMNS]
BD_COLUMNS = ["image", "inr_codec", "anchor", "bd_rate_percent", "bd_psnr_db", "points", "bd_rate_note",
              "bd_psnr_note"]


def check_method(method: str) -> str:
    """The BD interpolation method, or SirenInrError naming the accepted ones."""
    if method not in BD_METHODS:
        raise SirenInrError(f"bd_method={method!r}; accepted: {', '.join(BD_METHODS)}")
    return method


def rd_front(curve: pd.DataFrame) -> pd.DataFrame:
    """The curve's points with finite bpp and PSNR, by rising bpp, each one better than every smaller one."""
    points = curve.dropna(subset=["bpp", "psnr_db"]).reset_index(drop=True)
    points = points.sort_values(["bpp", "psnr_db"], ascending=[True, False])
    keep, best = [], -np.inf
    for index, psnr in zip(points.index, points["psnr_db"]):
        if psnr > best:
            keep.append(index)
            best = psnr
    return points.loc[keep].reset_index(drop=True)


def _span(values: np.ndarray, unit: str) -> str:
    return f"{values.min():.3g}–{values.max():.3g} {unit}"


def bd_metrics(anchor: pd.DataFrame, test: pd.DataFrame, method: str = "akima", *, anchor_name: str = "anchor",
               test_name: str = "test") -> dict[str, float | int | str]:
    """BD-rate (%) and BD-PSNR (dB) of `test` against `anchor` (frames with bpp and psnr_db columns), each with
    a note: empty when the number exists, else the reason in words."""
    import bjontegaard

    check_method(method)
    a, t = rd_front(anchor), rd_front(test)
    out: dict[str, float | int | str] = {"bd_rate_percent": float("nan"), "bd_psnr_db": float("nan"),
                                         "points": int(min(len(a), len(t))), "bd_rate_note": "",
                                         "bd_psnr_note": ""}
    few = [f"{name} has {len(c)} point{'s' if len(c) != 1 else ''} (2 needed)"
           for name, c in ((test_name, t), (anchor_name, a)) if len(c) < 2]
    if few:
        out["bd_rate_note"] = out["bd_psnr_note"] = "; ".join(few)
        return out
    a_bpp, a_psnr = a["bpp"].to_numpy(float), a["psnr_db"].to_numpy(float)
    t_bpp, t_psnr = t["bpp"].to_numpy(float), t["psnr_db"].to_numpy(float)
    args = (a_bpp, a_psnr, t_bpp, t_psnr)
    checks = (("bd_rate_percent", "bd_rate_note", bjontegaard.bd_rate, a_psnr, t_psnr, "dB"),
              ("bd_psnr_db", "bd_psnr_note", bjontegaard.bd_psnr, a_bpp, t_bpp, "bpp"))
    for key, note, func, a_axis, t_axis, unit in checks:
        if min(a_axis.max(), t_axis.max()) <= max(a_axis.min(), t_axis.min()):
            out[note] = f"no overlap: {test_name} {_span(t_axis, unit)}, {anchor_name} {_span(a_axis, unit)}"
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                value = float(func(*args, method=method, require_matching_points=False, min_overlap=0))
            except (ValueError, ZeroDivisionError, np.linalg.LinAlgError) as err:
                out[note] = f"{method} interpolation failed: {err}"
                continue
        if np.isfinite(value):
            out[key] = value
        else:
            out[note] = f"{method} interpolation gave no finite value"
    return out


def mean_curves(table: pd.DataFrame) -> pd.DataFrame:
    """Mean curve of every codec: mean bpp/PSNR/SSIM/bytes over the images at each point (an INR codec's ladder
    point, a classical codec's setting), only at points every image of the table has; `images` counts them;
    then the mean of each OPTIONAL_CURVE_KEYS column the table has (Benford JSDs)."""
    total = table["image"].nunique()
    optional = [key for key in OPTIONAL_CURVE_KEYS if key in table.columns]
    rows = []
    for (codec, point), part in table.groupby(["codec", "point"], sort=False):
        part = part.dropna(subset=["bpp", "psnr_db"])
        if part["image"].nunique() < total or len(part) != total:
            continue
        row = {"codec": codec, "kind": part["kind"].iloc[0] if "kind" in part else "", "point": point,
               "setting": part["setting"].iloc[0] if "setting" in part else point}
        row.update({key: float(part[key].mean()) for key in CURVE_KEYS})
        row["images"] = total
        row.update({key: float(part[key].mean()) for key in optional})
        rows.append(row)
    columns = ["codec", "kind", "point", "setting", *CURVE_KEYS, "images", *optional]
    return pd.DataFrame(rows, columns=columns)


def _label(codec: str, inr_codecs: Sequence[str]) -> str:
    return f"INR ({codec})" if codec in inr_codecs else display_name(codec)


def bd_table(table: pd.DataFrame, inr_codecs: Sequence[str], anchors: Sequence[str], method: str = "akima",
             means: pd.DataFrame | None = None) -> pd.DataFrame:
    """BD metrics of each INR codec against each anchor (classical codecs, other INR codecs): one row per image
    and one `image=mean` row on the mean curves."""
    means = mean_curves(table) if means is None else means
    rows = []
    curves = [(name, part) for name, part in table.groupby("image", sort=False)] + [("mean", means)]
    for image_name, part in curves:
        for inr in inr_codecs:
            test = part[part["codec"] == inr]
            for anchor in anchors:
                if anchor == inr:
                    continue
                rows.append({"image": image_name, "inr_codec": inr, "anchor": anchor,
                             **bd_metrics(part[part["codec"] == anchor], test, method,
                                          anchor_name=_label(anchor, inr_codecs), test_name=_label(inr, inr_codecs))})
    return pd.DataFrame(rows, columns=BD_COLUMNS)


def bd_cell(value: float, note: str, digits: int = 2) -> str:
    """A BD number for a report, or its reason when there is none."""
    return f"{value:+.{digits}f}" if np.isfinite(value) else (note or "–")
