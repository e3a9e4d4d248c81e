"""HEIC (pillow-heif: libheif + x265) on the 24 full Kodak images against the published BPG curve.

BPG is HEVC intra too (x265 inside a small container), so HEIC should land near it. Two things differ: the
published curve is BPG 4:4:4 in YCbCr while HEIC files are 4:2:0 by default (`codecs=[heic]` in a study
uses 4:2:0, `HEIC_CHROMA`), and the encoders' presets/containers differ (BPG's own x265 build and settings,
a ~20-byte header; libheif's x265 defaults and a HEIF box structure of a few hundred bytes). So both
chroma modes are measured: the mean curve over all images at each quality, BD-rate / BD-PSNR against BPG
over the overlapping range, and our PSNR at BPG's published rates (interpolated in log bpp).

    OMP_NUM_THREADS=1 nice python experiments/kodak_rd/heic_check.py [--kodak ../shared/data/kodak]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.compression import classical
from siren_inr.compression.bd import bd_metrics
from siren_inr.data import load_image

REPO = Path(__file__).resolve().parents[2]
QUALITIES = [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
# (chroma, x265 tune): libheif's defaults at 4:2:0 and 4:4:4, and 4:4:4 tuned for PSNR.
VARIANTS = (("420", None), ("444", None), ("444", "psnr"))


def main(argv: list[str] | None = None) -> int:
    """Measure HEIC at each quality and chroma on every Kodak image; write CSV + Markdown to --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", default=str(REPO / ".." / "shared" / "data" / "kodak"))
    parser.add_argument("--reference", default=str(REPO / ".." / "shared" / "reference" / "kodak"))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results_cpu"))
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--from-log", default=None, help="write the comparison from the mean points a run printed")
    parser.add_argument("--from-points", default=None, help="write the comparison from a run's heic_points.csv")
    parser.add_argument("--seconds", type=float, default=float("nan"), help="with --from-points: the run's wall time")
    args = parser.parse_args(argv)
    bpg = json.loads((Path(args.reference) / "bpg_444_x265_ycbcr.json").read_text())["results"]
    out = Path(args.out)
    if args.from_points:
        points = pd.read_csv(args.from_points)
        means = (points.groupby(["variant", "quality"], sort=False)[["bpp", "psnr_db", "ssim", "num_bytes"]]
                 .mean().reset_index())
        write_comparison(out, means, bpg, points["image"].nunique(), args.seconds, f"`{Path(args.from_points).name}`")
        return 0
    if args.from_log:
        means = means_from_log(Path(args.from_log).read_text())
        write_comparison(out, means, bpg, count=24, seconds=float("nan"),
                         source=f"the mean points printed in `{Path(args.from_log).name}`")
        return 0
    paths = sorted(Path(args.kodak).glob("*.png"))[: args.max_images]
    if not paths:
        print(f"error: no PNG images in {args.kodak}", file=sys.stderr)
        return 2
    images = [load_image(str(p), None) for p in paths]
    start = time.perf_counter()
    rows = []
    for chroma, tune in VARIANTS:
        classical.HEIC_CHROMA, classical.HEIC_TUNE = chroma, tune
        variant = f"4:{chroma[1]}:{chroma[2]}" + (f" tune={tune}" if tune else "")
        for quality in QUALITIES:
            for path, image in zip(paths, images):
                point = classical.evaluate(image, "heic", quality)
                rows.append({"variant": variant, "quality": quality, "image": path.name, "num_bytes": point.num_bytes,
                             "bpp": point.bpp, "psnr_db": point.psnr_db, "ssim": point.ssim})
            done = [r for r in rows if r["variant"] == variant and r["quality"] == quality]
            print(f"{variant} q={quality:2d}: {np.mean([r['bpp'] for r in done]):.4f} bpp, "
                  f"{np.mean([r['psnr_db'] for r in done]):.3f} dB ({time.perf_counter() - start:.0f} s)", flush=True)
    points = pd.DataFrame(rows)
    means = (points.groupby(["variant", "quality"], sort=False)[["bpp", "psnr_db", "ssim", "num_bytes"]]
             .mean().reset_index())
    out.mkdir(parents=True, exist_ok=True)
    points.to_csv(out / "heic_points.csv", index=False)
    write_comparison(out, means, bpg, len(paths), time.perf_counter() - start, "`heic_points.csv`")
    return 0


def means_from_log(text: str) -> pd.DataFrame:
    """The mean points a run printed ("4:2:0 q=10: 0.0781 bpp, 26.216 dB (... s)"), one row per variant and quality."""
    import re

    rows = [{"variant": m[1], "quality": int(m[2]), "bpp": float(m[3]), "psnr_db": float(m[4])}
            for m in re.finditer(r"(?m)^(4:\d:\d(?: tune=\w+)?) q=\s*(\d+): ([\d.]+) bpp, ([\d.]+) dB", text)]
    return pd.DataFrame(rows)


def write_comparison(out: Path, means: pd.DataFrame, bpg: dict, count: int, seconds: float, source: str) -> None:
    """heic_vs_bpg.csv / .md: BD against BPG per variant, and our PSNR at BPG's published rates."""
    out.mkdir(parents=True, exist_ok=True)
    means.to_csv(out / "heic_vs_bpg.csv", index=False)
    bpg_curve = pd.DataFrame({"bpp": bpg["bpp"], "psnr_db": bpg["psnr"]})
    summary, at_bpg = [], []
    for variant in means["variant"].unique():
        curve = means[means["variant"] == variant].sort_values("bpp")
        bd = bd_metrics(bpg_curve, curve, "akima", anchor_name="BPG", test_name=f"HEIC {variant}")
        summary.append({"HEIC": variant, "BD-rate vs BPG %": bd["bd_rate_percent"],
                        "BD-PSNR vs BPG dB": bd["bd_psnr_db"], "note": bd["bd_rate_note"] or bd["bd_psnr_note"]})
        ours = np.interp(np.log(bpg["bpp"]), np.log(curve["bpp"]), curve["psnr_db"], left=np.nan, right=np.nan)
        for rate, theirs, mine in zip(bpg["bpp"], bpg["psnr"], ours):
            if not np.isfinite(mine):
                continue  # a published rate outside our measured range
            at_bpg.append({"HEIC": variant, "BPG bpp": rate, "BPG PSNR dB": theirs,
                           "HEIC PSNR dB at that bpp": mine, "HEIC - BPG dB": mine - theirs})
    lines = [f"# HEIC (pillow-heif {classical_version()}) on Kodak ({count} full images) against published BPG",
             "", "BPG: `bpg_444_x265_ycbcr.json` (BPG 0.9.8, x265, 4:4:4 YCbCr). "
             "HEIC: libheif's x265 defaults (tune ssim) or tune=psnr, at "
             f"quality {QUALITIES[0]}…{QUALITIES[-1]}; mean bpp/PSNR over all images at each quality, from {source}. "
             + (f"Wall time {seconds:.0f} s (2 shared cores)." if np.isfinite(seconds) else ""), "",
             pd.DataFrame(summary).to_markdown(index=False, floatfmt=".2f"), "",
             "PSNR at BPG's published rates (our mean curve interpolated in log bpp):", "",
             pd.DataFrame(at_bpg).to_markdown(index=False, floatfmt=".3f"), "",
             "Mean curves:", "", means.to_markdown(index=False, floatfmt=".4f"), ""]
    (out / "heic_vs_bpg.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6]))


def classical_version() -> str:
    """The pillow-heif and libheif versions used."""
    import pillow_heif

    return f"{pillow_heif.__version__}, libheif {pillow_heif.libheif_info()['libheif']}"


if __name__ == "__main__":
    sys.exit(main())
