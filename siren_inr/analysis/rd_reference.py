"""An RD study's INR codecs against published per-image curves (e.g. Cool-chic's 24 Kodak curves).

A reference file (`*.json` in `reference_dir`) holds `results.bpp`/`results.psnr` (the published mean curve) and,
when the authors published them, `results.per_image`: {"kodim01": {"bpp": [...], "psnr": [...]}, ...}. A file with
a top-level `"crop": N` was measured on N x N centre crops (a peer run on the study's own crops, such as
experiments/kodak_rd/coolchic_peer/): it compares only with a study of the same crop, and its mean curve is
recomputed over the study's images (none when one of them lacks a curve or the curves differ in length); a file
without `crop` holds full-image curves and compares only with a study of full images. Each image
of each INR codec is compared with that image's published curve, and the study's mean curve with the published
mean, by the study's own BD method (`compression.bd.bd_metrics`, the INR codec as the test, the published codec as
the anchor). A file that cannot be read as such is skipped, as `rd_figures.load_reference_curves` skips it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.compression.bd import bd_cell, bd_metrics
from siren_inr.validation import is_int

REFERENCE_BD_COLUMNS = ["image", "inr_codec", "reference", "bd_rate_percent", "bd_psnr_db", "points", "bd_rate_note",
                        "bd_psnr_note"]
REFERENCE_BD_FILE = "reference_bd.csv"
SECTION_TITLE = "## Against reference per-image curves (published, or a peer run on the same crops)"


@dataclass(frozen=True)
class PerImageReference:
    """One published codec: its mean curve and its curve on each image, as frames with bpp and psnr_db."""

    name: str
    mean: pd.DataFrame | None  # None: no mean curve over the study's images (a crop reference lacking one)
    per_image: dict[str, pd.DataFrame]  # by image key, e.g. 'kodim01'
    crop: int | None = None  # the side of the centre crops it was measured on (None: full images)


def _curve(entry: dict) -> pd.DataFrame:
    bpp, psnr = [float(v) for v in entry["bpp"]], [float(v) for v in entry["psnr"]]
    if len(bpp) != len(psnr):
        raise ValueError(f"{len(bpp)} bpp values against {len(psnr)} PSNR values")
    return pd.DataFrame({"bpp": bpp, "psnr_db": psnr})


def reference_curves_per_image(results: dict) -> dict[str, pd.DataFrame]:
    """A reference file's `results.per_image` as frames with bpp and psnr_db, by image key."""
    return {str(key): _curve(entry) for key, entry in results["per_image"].items()}


def reference_crop(data: dict) -> int | None:
    """The crop side a reference file declares (None: full images); a malformed value is a ValueError."""
    crop = data.get("crop")
    if crop is not None and not (is_int(crop) and crop >= 1):
        raise ValueError(f"crop={crop!r}")
    return crop


def crop_mean(per_image: dict[str, pd.DataFrame], images: Sequence[str] | None) -> pd.DataFrame | None:
    """The mean curve of a crop reference over the study's images (point by point), or None when an image lacks
    a curve or the curves have different numbers of points."""
    if not images:
        return None
    curves = [per_image.get(image_key(name)) for name in images]
    if any(c is None for c in curves) or len({len(c) for c in curves}) != 1:
        return None
    return pd.DataFrame({"bpp": np.mean([c["bpp"].to_numpy() for c in curves], axis=0),
                         "psnr_db": np.mean([c["psnr_db"].to_numpy() for c in curves], axis=0)})


def load_per_image_references(folder: str | Path | None, crop: int | None = None,
                              images: Sequence[str] | None = None) -> list[PerImageReference]:
    """The readable *.json files of `folder` that have per-image curves measured like the study (full images when
    `crop` is None, else centre crops of that side), by file name (empty if no folder). `images`: the study's,
    over which a crop reference's mean is taken."""
    if folder is None or not Path(folder).is_dir():
        return []
    references = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            results = data["results"]
            per_image = results.get("per_image")
            if not per_image or reference_crop(data) != crop:
                continue  # a mean curve only, or measured on other pixels: nothing to compare per image
            curves = reference_curves_per_image(results)
            mean = _curve(results) if crop is None else crop_mean(curves, images)
            references.append(PerImageReference(str(data.get("name", path.stem)), mean, curves, crop))
        except (AttributeError, KeyError, TypeError, ValueError, json.JSONDecodeError):
            continue
    return references


def image_key(image_name: str) -> str:
    """The reference's key of a study image: 'kodim01.png' -> 'kodim01'."""
    return Path(image_name).stem


def reference_bd_table(table: pd.DataFrame, means: pd.DataFrame, references: Sequence[PerImageReference],
                       inr_codecs: Sequence[str], method: str = "akima") -> pd.DataFrame:
    """BD of each INR codec against each reference: a row per study image the reference has a curve for, and an
    `image=mean` row (the study's mean curve against the published mean). `table` and `means` have columns image
    (table only), codec, bpp, psnr_db."""
    rows = []
    images = list(dict.fromkeys(table["image"]))
    for reference in references:
        for inr in inr_codecs:
            label = f"INR ({inr})"
            for image_name in images:
                curve = reference.per_image.get(image_key(image_name))
                if curve is None:
                    continue
                test = table[(table["image"] == image_name) & (table["codec"] == inr)]
                rows.append({"image": image_name, "inr_codec": inr, "reference": reference.name,
                             **bd_metrics(curve, test, method, anchor_name=reference.name, test_name=label)})
            if reference.mean is None:
                have = len([i for i in images if image_key(i) in reference.per_image])
                why = (f"{reference.name} has no mean curve over this study's images: {have} of {len(images)} have a "
                       "curve, and every one needs the same number of points")
                rows.append({"image": "mean", "inr_codec": inr, "reference": reference.name,
                             "bd_rate_percent": float("nan"), "bd_psnr_db": float("nan"), "points": 0,
                             "bd_rate_note": why, "bd_psnr_note": why})
                continue
            what = "published mean" if reference.crop is None else "mean over the same crops"
            rows.append({"image": "mean", "inr_codec": inr, "reference": reference.name,
                         **bd_metrics(reference.mean, means[means["codec"] == inr], method,
                                      anchor_name=f"{reference.name} ({what})", test_name=label)})
    return pd.DataFrame(rows, columns=REFERENCE_BD_COLUMNS)


def compare_with_references(table: pd.DataFrame, means: pd.DataFrame, reference_dir: str | Path | None,
                            inr_codecs: Sequence[str], method: str = "akima", crop: int | None = None) -> pd.DataFrame:
    """`reference_bd_table` against the per-image references of `reference_dir` measured like the study (`crop`;
    no rows when none has any)."""
    images = list(dict.fromkeys(table["image"]))
    return reference_bd_table(table, means, load_per_image_references(reference_dir, crop, images), inr_codecs,
                              method)


def reference_summary(bd: pd.DataFrame) -> pd.DataFrame:
    """Per INR codec and reference: the mean of the finite per-image BD values, how many images had one, and the
    BD of the mean curves (a number or why there is none)."""
    rows = []
    for (inr, reference), part in bd.groupby(["inr_codec", "reference"], sort=False):
        images = part[part["image"] != "mean"]
        mean_row = part[part["image"] == "mean"]
        row = {"INR codec": inr, "reference": reference}
        for key, unit, digits in (("bd_psnr_db", "BD-PSNR dB", 2), ("bd_rate_percent", "BD-rate %", 1)):
            values = images[key].astype(float)
            finite = values[np.isfinite(values)]
            row[f"mean per-image {unit}"] = f"{finite.mean():+.{digits}f}" if len(finite) else "–"
            row[f"images with {unit.split()[0]}"] = f"{len(finite)} of {len(images)}"
        for key, note, unit, digits in (("bd_psnr_db", "bd_psnr_note", "BD-PSNR dB", 2),
                                        ("bd_rate_percent", "bd_rate_note", "BD-rate %", 1)):
            row[f"{unit}, mean curves"] = (bd_cell(float(mean_row[key].iloc[0]), str(mean_row[note].iloc[0]), digits)
                                           if len(mean_row) else "–")
        rows.append(row)
    return pd.DataFrame(rows)


def reference_section(bd: pd.DataFrame | None, reason: str | None, reference_dir: str | Path | None,
                      method: str, count: int) -> list[str]:
    """The report.md lines of the comparison: its table, or one line saying why there is none. `reason` is why
    the published curves do not compare with the study (None when they do); `count` the study's images."""
    lines = [SECTION_TITLE, ""]
    if reason is None and (bd is None or bd.empty):
        reason = (f"no reference file in `{reference_dir}` has per-image curves (`results.per_image`) for this "
                  "study's images")
    if reason is not None:
        return lines + [f"Not compared: {reason}.", ""]
    text = reference_summary(bd)
    return lines + [
        f"Each INR codec on each image against the reference's curve of that image ({method} BD over the overlapping "
        "range; BD-PSNR > 0 and BD-rate < 0: the INR codec is better), then the means over images of the finite "
        f"per-image values, and BD of this study's mean curve (over its {count} images) against the reference's "
        "mean curve (a published one: over all the published images; one measured on the same crops: over this "
        "study's images). \"k of n\": k of the n images the reference has a curve for "
        f"have a number. Every row, with the reason where a number cannot exist, in `{REFERENCE_BD_FILE}`.", "",
        text.to_markdown(index=False, disable_numparse=True), ""]
