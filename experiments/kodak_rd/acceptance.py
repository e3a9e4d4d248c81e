"""The issue's INR acceptance on Kodak: mean PSNR of the INR codec at ~0.3 bpp against COIN's published curve.

Reads one or more `siren-inr rd` tables (e.g. the chunks of run_gpu_acceptance.sh), pools their rows, and
for every INR ladder point present for all images compares the mean (bpp, PSNR) with COIN's published curve
interpolated at that mean bpp (linear in log bpp between published points), and our JPEG mean curve (every image at each
quality) with the published Pillow JPEG curve. Writes acceptance.md / acceptance.csv next to --out.

    python experiments/kodak_rd/acceptance.py --out experiments/kodak_rd/results_gpu_acceptance \
        experiments/kodak_rd/results_gpu_acceptance/chunk*/rd/table.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.analysis.rd_figures import load_reference_curves
from siren_inr.compression.bd import mean_curves

INR_CODEC = "coin"  # the INR codec measured (rows of table.csv with codec=coin)

KODAK_IMAGES = 24


def interpolate(curve: dict[str, list[float]], bpp: float) -> float:
    """The published PSNR at `bpp` (linear in log bpp; NaN outside the published range)."""
    order = np.argsort(curve["bpp"])
    rates, psnrs = np.log(np.asarray(curve["bpp"])[order]), np.asarray(curve["psnr"])[order]
    if not rates[0] <= np.log(bpp) <= rates[-1]:
        return float("nan")
    return float(np.interp(np.log(bpp), rates, psnrs))


def pooled_table(paths: list[Path]) -> pd.DataFrame:
    """All rows of the given tables; an image that appears in two tables is an error (chunks overlap)."""
    tables = [pd.read_csv(path) for path in paths]
    table = pd.concat(tables, ignore_index=True)
    inr = table[table["codec"] == INR_CODEC]
    repeated = inr.duplicated(subset=["image", "point"])
    if repeated.any():
        raise SystemExit(f"error: image/point pairs appear twice across the tables: "
                         f"{sorted(set(inr[repeated]['image']))}")
    return table


def acceptance(table: pd.DataFrame, references: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """One row per codec and ladder point: our mean (bpp, PSNR), the published curve there, the margin."""
    means = mean_curves(table)
    published = {INR_CODEC: references.get("COIN"), "jpeg": references.get("JPEG")}
    rows = []
    for _, row in means.iterrows():
        curve = published.get(row["codec"])
        if curve is None:
            continue
        at = interpolate(curve, row["bpp"])
        rows.append({"codec": row["codec"], "point": row["point"], "images": int(row["images"]),
                     "mean_bpp": row["bpp"], "mean_psnr_db": row["psnr_db"],
                     "published": "COIN" if row["codec"] == INR_CODEC else "JPEG (Pillow)",
                     "published_psnr_db_at_bpp": at, "margin_db": row["psnr_db"] - at})
    return pd.DataFrame(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+", type=Path, help="table.csv files of siren-inr rd runs")
    parser.add_argument("--reference", type=Path, default=Path("../shared/reference/kodak"))
    parser.add_argument("--out", type=Path, required=True, help="folder for acceptance.md / acceptance.csv")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.tables if not p.is_file()]
    if missing:
        print(f"error: no such table: {', '.join(missing)}", file=sys.stderr)
        return 2
    references = load_reference_curves(args.reference)
    if "COIN" not in references:
        print(f"error: --reference {args.reference} holds no COIN curve (coin.json)", file=sys.stderr)
        return 2
    table = pooled_table(args.tables)
    result = acceptance(table, references)
    args.out.mkdir(parents=True, exist_ok=True)
    result.to_csv(args.out / "acceptance.csv", index=False)
    images = table[table["codec"] == INR_CODEC]["image"].nunique()
    inr = result[result["codec"] == INR_CODEC]
    near = inr.iloc[(inr["mean_bpp"] - 0.3).abs().argsort()[:1]] if len(inr) else inr
    lines = ["# INR acceptance on Kodak: our codec against COIN's published curve", "",
             f"- images: {images} (the published curves are means over all {KODAK_IMAGES})",
             f"- tables: {', '.join(str(p) for p in args.tables)}",
             "- published PSNR interpolated at our mean bpp, linear in log bpp", "",
             result.to_markdown(index=False, floatfmt=".4f") if len(result) else "(no comparable points)", ""]
    for _, row in near.iterrows():
        verdict = "met" if row["margin_db"] >= 0 and images == KODAK_IMAGES else "NOT met"
        lines.append(f"**At about 0.3 bpp ({row['point']}, {row['mean_bpp']:.4f} bpp): {row['mean_psnr_db']:.2f} dB "
                     f"against COIN's {row['published_psnr_db_at_bpp']:.2f} dB: {verdict}** "
                     f"(margin {row['margin_db']:+.2f} dB over {row['images']} images).")
    (args.out / "acceptance.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
