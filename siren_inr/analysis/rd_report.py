"""The report folder of a rate–distortion study: CSV and Markdown tables, RD plots and report.md (and
reference_bd.csv, the study against published per-image curves, when they compare)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.analysis.rd_figures import (load_reference_curves, plot_benford_jsd, plot_curves, rate_limit,
                                           within_rates)
from siren_inr.analysis.rd_reference import (
    REFERENCE_BD_FILE,
    compare_with_references,
    image_key,
    load_per_image_references,
    reference_section,
)
from siren_inr.compression.bd import bd_cell
from siren_inr.metrics.benford import BENFORD_JSD_COLUMNS, BENFORD_JSD_DCT, BENFORD_JSD_PIXELS
from siren_inr.names import PLOTS_FOLDER

TABLE_COLUMNS = ["image", "kind", "codec", "point", "setting", "num_bytes", "bpp", "psnr_db", "ssim"]
BENFORD_FIGURE = f"{PLOTS_FOLDER}/benford_jsd.png"


def _md(frame: pd.DataFrame, digits: int = 4, numparse: bool = True) -> str:
    return frame.to_markdown(index=False, floatfmt=f".{digits}f", missingval="–", disable_numparse=not numparse)


def inr_mean_table(table: pd.DataFrame, means: pd.DataFrame, inr_codecs: Sequence[str],
                   codecs: Sequence[str]) -> pd.DataFrame:
    """INR mean points, and beside them each classical codec's mean PSNR at the INR file's rate (its largest
    swept file not above it; "(k of n images)" where some image's smallest file is larger)."""
    rows = []
    total = table["image"].nunique()
    for _, mean in means[means["codec"].isin(inr_codecs)].iterrows():
        part = table[(table["codec"] == mean["codec"]) & (table["point"] == mean["point"])]
        row = {"codec": mean["codec"], "point": mean["point"], "bpp": mean["bpp"], "PSNR dB": mean["psnr_db"],
               "SSIM": mean["ssim"]}
        for codec in codecs:
            values = part[f"{codec}_psnr_db_at_rate"].dropna()
            cell = f"{values.mean():.2f}" if len(values) else "– (smallest file above)"
            row[f"{codec} PSNR at ≤ rate"] = cell + (f" ({len(values)} of {total} images)"
                                                     if 0 < len(values) < total else "")
        rows.append(row)
    return pd.DataFrame(rows)


def falls(curve: pd.DataFrame) -> int:
    """Points of a curve whose PSNR is below that of a smaller file (equal files at two settings are no fall)."""
    ordered = curve.sort_values(["bpp", "psnr_db"])
    best, count = -float("inf"), 0
    for bpp, group in ordered.groupby("bpp", sort=True):
        count += int((group["psnr_db"] < best - 1e-9).sum())
        best = max(best, float(group["psnr_db"].max()))
    return count


def classical_curve_table(means: pd.DataFrame, codecs: Sequence[str]) -> pd.DataFrame:
    """Each classical codec's mean curve in one line: settings swept, rate and PSNR spans, whether it rises."""
    rows = []
    for codec in codecs:
        curve = means[means["codec"] == codec].sort_values("bpp")
        if curve.empty:
            rows.append({"codec": codec, "points": 0})
            continue
        fallen = falls(curve)
        rows.append({"codec": codec, "points": len(curve),
                     "distinct files": len(curve.drop_duplicates(["bpp", "psnr_db"])),
                     "settings": f"{curve['point'].iloc[0]} … {curve['point'].iloc[-1]}",
                     "bpp": f"{curve['bpp'].min():.3f}–{curve['bpp'].max():.3f}",
                     "PSNR dB": f"{curve['psnr_db'].min():.2f}–{curve['psnr_db'].max():.2f}",
                     "PSNR rises with bpp": "yes" if fallen == 0 else
                     f"along its front; {fallen} setting{'s' if fallen > 1 else ''} below a smaller file (hollow in "
                     "the plots, not in BD)"})
    return pd.DataFrame(rows)


def bd_text_table(bd: pd.DataFrame) -> pd.DataFrame:
    """BD rows with each cell a number or the reason there is none."""
    return pd.DataFrame({
        "image": bd["image"], "INR codec": bd["inr_codec"], "anchor": bd["anchor"],
        "BD-rate %": [bd_cell(v, n, 1) for v, n in zip(bd["bd_rate_percent"], bd["bd_rate_note"])],
        "BD-PSNR dB": [bd_cell(v, n, 2) for v, n in zip(bd["bd_psnr_db"], bd["bd_psnr_note"])],
        "points": bd["points"].astype(str)})


def _qat_section(table: pd.DataFrame, inr_codecs: Sequence[str]) -> list[str]:
    inr = table[table["codec"].isin(inr_codecs)]
    if "quant_psnr_db_after_qat" not in inr or inr["quant_psnr_db_after_qat"].isna().all():
        return []
    grouped = inr.assign(loss=inr["fit_psnr_db"] - inr["quant_psnr_db_before_qat"],
                         gain=inr["quant_psnr_db_after_qat"] - inr["quant_psnr_db_before_qat"])
    summary = grouped.groupby(["codec", "point"], sort=False)[["loss", "gain"]].mean().reset_index()
    summary.columns = ["codec", "point", "quantization loss dB", "QAT gain dB"]
    return ["## Quantization and quantization-aware tuning", "",
            "Mean over images: PSNR lost by quantizing the fitted weights, and regained by tuning (same file size).",
            "", _md(summary, 3), ""]


def _jsd(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.2e}"


def _study_curves(means: pd.DataFrame, inr_codecs: Sequence[str],
                  codecs: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """Each codec's mean points with JSDs, by bpp; classical ones only within the study's rates (as plotted)."""
    limit = rate_limit(means, inr_codecs)
    curves = []
    for codec in [*inr_codecs, *codecs]:
        part = means[means["codec"] == codec].dropna(subset=["bpp", *BENFORD_JSD_COLUMNS]).sort_values("bpp")
        part = part if codec in inr_codecs else within_rates(part, limit)
        if len(part):
            curves.append((codec, part))
    return curves


def benford_codec_table(means: pd.DataFrame, inr_codecs: Sequence[str], codecs: Sequence[str]) -> pd.DataFrame:
    """One row per codec, closest to the originals' DCT digits first: its mean JSDs over its mean points within
    the study's rates, and the JSD at its smallest and its largest file."""
    rows = []
    for codec, part in _study_curves(means, inr_codecs, codecs):
        low, high = part.iloc[0], part.iloc[-1]
        rows.append({"codec": codec, "points": len(part), "bpp": f"{low['bpp']:.3f}–{high['bpp']:.3f}",
                     "mean JSD pixels": part[BENFORD_JSD_PIXELS].mean(), "mean JSD DCT": part[BENFORD_JSD_DCT].mean(),
                     "JSD pixels, smallest → largest file":
                         f"{_jsd(low[BENFORD_JSD_PIXELS])} → {_jsd(high[BENFORD_JSD_PIXELS])}",
                     "JSD DCT, smallest → largest file":
                         f"{_jsd(low[BENFORD_JSD_DCT])} → {_jsd(high[BENFORD_JSD_DCT])}"})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values("mean JSD DCT", kind="stable").reset_index(drop=True)
    for key in ("mean JSD pixels", "mean JSD DCT"):
        table[key] = table[key].map(_jsd)
    return table


def benford_point_table(means: pd.DataFrame, inr_codecs: Sequence[str], codecs: Sequence[str],
                        per_codec: int = 5) -> pd.DataFrame:
    """Mean JSDs at each INR point and at up to `per_codec` of each classical codec's points (spread over the
    study's rates; all of them in `mean_curves.csv`)."""
    rows = []
    for codec, part in _study_curves(means, inr_codecs, codecs):
        if codec not in inr_codecs and len(part) > per_codec:
            part = part.iloc[np.unique(np.round(np.linspace(0, len(part) - 1, per_codec)).astype(int))]
        rows += [{"codec": codec, "point": str(r["point"]), "bpp": f"{r['bpp']:.3f}", "PSNR dB": f"{r['psnr_db']:.2f}",
                  "JSD pixels": _jsd(r[BENFORD_JSD_PIXELS]), "JSD DCT": _jsd(r[BENFORD_JSD_DCT])}
                 for _, r in part.iterrows()]
    return pd.DataFrame(rows)


def _benford_section(means: pd.DataFrame, inr_codecs: Sequence[str], codecs: Sequence[str]) -> list[str]:
    if not set(BENFORD_JSD_COLUMNS) <= set(means.columns):
        return []
    summary = benford_codec_table(means, inr_codecs, codecs)
    if summary.empty:
        return []
    return ["## Benford per codec", "",
            "Jensen–Shannon divergence (bits, 0 = the same distribution) of each decoded file's leading digits from "
            "its original's, pooled over channels, in two domains: the 8-bit pixels and the 8x8 block-DCT "
            "coefficients (DC included); means over images at each point of the mean curves (`mean_curves.csv`; "
            "per file in `table.csv`). A small JSD means the codec keeps the original's first-digit law. JPEG "
            "quantizes exactly these 8x8 DCT coefficients, so its DCT-domain digits are a known trace of it (Fu, "
            "Shi and Su 2007 detect JPEG compression from them); compare its row with the others'.", "",
            f"![Benford JSD against bpp]({BENFORD_FIGURE})", "",
            "Each codec over its points within the study's rates, closest to the originals' DCT digits first:", "",
            _md(summary, numparse=False), "",
            "At its points (a classical codec's spread over the study's rates):", "",
            _md(benford_point_table(means, inr_codecs, codecs), numparse=False), ""]


def write_report(out: Path, table: pd.DataFrame, means: pd.DataFrame, bd: pd.DataFrame, *, description: list[str],
                 inr_codecs: Sequence[str], codecs: Sequence[str], bd_method: str, reference_dir: str | None,
                 reference_note: str | None, reference_bd: pd.DataFrame | None = None, crop: int | None = None) -> Path:
    """table.csv/.md, mean_curves.csv, bd.csv, plots/ and report.md in `out`; `reference_note` is None when the
    published curves of `reference_dir` compare with the study (full Kodak images), else why they are absent.
    `reference_bd`: the study against published per-image curves (`rd_reference.compare_with_references`;
    None: computed here when the curves compare), written to reference_bd.csv when it has a row. `crop`: the side
    of the study's centre crops (None: full images), which selects the reference files measured the same way."""
    out = Path(out)
    if reference_note is None and reference_bd is None:
        reference_bd = compare_with_references(table, means, reference_dir, inr_codecs, bd_method, crop)
    if reference_note is None and reference_bd is not None and not reference_bd.empty:
        reference_bd.to_csv(out / REFERENCE_BD_FILE, index=False)
    else:
        (out / REFERENCE_BD_FILE).unlink(missing_ok=True)  # not left over from an earlier study in this folder
    per_image_section = reference_section(reference_bd, reference_note, reference_dir, bd_method,
                                          table["image"].nunique())
    table.to_csv(out / "table.csv", index=False)
    means.to_csv(out / "mean_curves.csv", index=False)
    bd.to_csv(out / "bd.csv", index=False)
    benford_columns = [c for c in BENFORD_JSD_COLUMNS if c in table]
    # JSDs of good files are ~1e-5 bits: four decimals would print them as 0.
    (out / "table.md").write_text(table[TABLE_COLUMNS + benford_columns].to_markdown(
        index=False, floatfmt=[".4f"] * len(TABLE_COLUMNS) + [".2e"] * len(benford_columns), missingval="–") + "\n")
    images = list(dict.fromkeys(table["image"]))
    references = load_reference_curves(reference_dir, crop, images) if reference_note is None else {}
    count = table["image"].nunique()
    if reference_note is None and not references:
        reference_note = f"no published curves: no readable *.json in {reference_dir}"
    elif reference_note is None and crop is not None:
        reference_note = f"dashed: curves measured on the same {crop}x{crop} px crops, means over these {count} images"
    elif reference_note is None and count < 24:
        reference_note = f"dashed: published means over all 24 full Kodak images; this study has {count} of them"
    size = f"{crop} px crops" if crop is not None else None  # else read from the points
    plot_curves(means, out / PLOTS_FOLDER / "mean_rd.png", f"mean over {count} images", inr_codecs, references,
                reference_note, image_size=size)
    same_crops = load_per_image_references(reference_dir, crop, images) if crop is not None and references else []
    for image_name, part in table.groupby("image", sort=False):
        own = {r.name: {"bpp": r.per_image[image_key(image_name)]["bpp"].tolist(),
                        "psnr": r.per_image[image_key(image_name)]["psnr_db"].tolist(),
                        "label": f"{r.name} (same crop)"}
               for r in same_crops if image_key(image_name) in r.per_image}
        note = ("dashed: the same crop's reference curves" if own
                else "per image: published curves are means over Kodak, not drawn")
        plot_curves(part, out / PLOTS_FOLDER / f"rd_{Path(image_name).stem}.png", image_name, inr_codecs, own or None,
                    note=note, image_size=size)
    benford = _benford_section(means, inr_codecs, codecs)
    if benford:
        plot_benford_jsd(means, out / BENFORD_FIGURE, f"mean over {count} images", inr_codecs, image_size=size)
    text = bd_text_table(bd)
    lines = ["# Rate–distortion report", "", *[f"- {line}" for line in description], "",
             "## Mean curves", "",
             "Protocol: a classical codec's mean curve is the mean bpp and PSNR over all images at each of its "
             "settings, an INR codec's at each ladder point; a mean point exists only where every image has one.",
             "", "INR codecs (beside them, a column per classical codec: its mean PSNR at the INR file's rate, from "
             "each image's largest swept file not above it — a table column, not the codec's curve):", "",
             _md(inr_mean_table(table, means, inr_codecs, codecs), 4), "",
             "Classical codecs (every point in `mean_curves.csv`):", "",
             _md(classical_curve_table(means, codecs)), "",
             f"## BD metrics of each INR codec ({bd_method} interpolation over the overlapping range)", "",
             "BD-rate < 0: the INR codec needs fewer bits for the same PSNR (averaged over the PSNR range both "
             "curves cover); BD-PSNR > 0: it is better at the same rate (averaged over the common bpp range). "
             "Where a number cannot exist the cell says why.", "",
             _md(text[text["image"] == "mean"].drop(columns="image"), numparse=False), "",
             "Per image (also `bd.csv`):", "", _md(text[text["image"] != "mean"], numparse=False), "",
             *per_image_section,
             *_qat_section(table, inr_codecs),
             *benford,
             "## Figures", "", "![mean RD curves](plots/mean_rd.png)", ""]
    if references and crop is not None:
        lines += [f"Dashed: reference curves from `{reference_dir}` measured on the same {crop}x{crop} px crops "
                  f"(mean over this study's {count} images; per image in each image's figure).", ""]
    elif references:
        lines += [f"Dashed: published curves from `{reference_dir}` (means over the full 24 Kodak images)"
                  + (f"; {reference_note}" if reference_note else "") + ".", ""]
    else:
        lines += [f"Published curves: {reference_note}.", ""]
    lines += [f"- [{name}](plots/rd_{Path(name).stem}.png)" for name in table["image"].unique()]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out / "report.md"

