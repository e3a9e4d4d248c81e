"""The report folder of a rate–distortion study: CSV and Markdown tables, RD plots and report.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from siren_inr.analysis.rd_figures import load_reference_curves, plot_curves
from siren_inr.compression.bd import bd_cell

TABLE_COLUMNS = ["image", "kind", "codec", "point", "setting", "num_bytes", "bpp", "psnr_db", "ssim"]


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
        rows.append({"codec": codec, "points": len(curve), "distinct files": len(curve.drop_duplicates(["bpp", "psnr_db"])),
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


def write_report(out: Path, table: pd.DataFrame, means: pd.DataFrame, bd: pd.DataFrame, *, description: list[str],
                 inr_codecs: Sequence[str], codecs: Sequence[str], bd_method: str, reference_dir: str | None,
                 reference_note: str | None) -> Path:
    """table.csv/.md, mean_curves.csv, bd.csv, plots/ and report.md in `out`; `reference_note` is None when the
    published curves of `reference_dir` compare with the study (full Kodak images), else why they are absent."""
    out = Path(out)
    table.to_csv(out / "table.csv", index=False)
    means.to_csv(out / "mean_curves.csv", index=False)
    bd.to_csv(out / "bd.csv", index=False)
    (out / "table.md").write_text(_md(table[TABLE_COLUMNS]) + "\n")
    references = load_reference_curves(reference_dir) if reference_note is None else {}
    count = table["image"].nunique()
    if reference_note is None and not references:
        reference_note = f"no published curves: no readable *.json in {reference_dir}"
    elif reference_note is None and count < 24:
        reference_note = f"dashed: published means over all 24 full Kodak images; this study has {count} of them"
    plot_curves(means, out / "plots" / "mean_rd.png", f"mean over {count} images", inr_codecs, references,
                reference_note)
    for image_name, part in table.groupby("image", sort=False):
        plot_curves(part, out / "plots" / f"rd_{Path(image_name).stem}.png", image_name, inr_codecs,
                    note="per image: published curves are means over Kodak, not drawn")
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
             *_qat_section(table, inr_codecs),
             "## Figures", "", "![mean RD curves](plots/mean_rd.png)", ""]
    if references:
        lines += [f"Dashed: published curves from `{reference_dir}` (means over the full 24 Kodak images)"
                  + (f"; {reference_note}" if reference_note else "") + ".", ""]
    else:
        lines += [f"Published curves: {reference_note}.", ""]
    lines += [f"- [{name}](plots/rd_{Path(name).stem}.png)" for name in table["image"].unique()]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out / "report.md"

