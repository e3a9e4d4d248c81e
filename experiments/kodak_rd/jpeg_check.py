"""Acceptance check: our Pillow JPEG on Kodak against the published Pillow JPEG curve (COIN's reference).

The published points were made at JPEG quality 5, 10, ..., 95 (their mean bpp matches ours to the
fourth decimal), so each of our qualities is compared with the published PSNR at the same quality and
with the published curve interpolated (linearly in bpp) at our mean bpp.

    python experiments/kodak_rd/jpeg_check.py [--kodak ../shared/data/kodak] [--reference ../shared/reference/kodak]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.compression.classical import evaluate
from siren_inr.data import load_image

REPO = Path(__file__).resolve().parents[2]
QUALITIES = list(range(5, 100, 5))


def main(argv: list[str] | None = None) -> int:
    """Measure JPEG on every Kodak image at each quality; write CSV + Markdown beside this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kodak", default=str(REPO / ".." / "shared" / "data" / "kodak"))
    parser.add_argument("--reference", default=str(REPO / ".." / "shared" / "reference" / "kodak"))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results_cpu"))
    args = parser.parse_args(argv)
    paths = sorted(Path(args.kodak).glob("*.png"))
    if not paths:
        print(f"error: no PNG images in {args.kodak}", file=sys.stderr)
        return 2
    published = json.loads((Path(args.reference) / "jpeg.json").read_text())["results"]
    images = [load_image(str(p), None) for p in paths]
    start = time.perf_counter()
    rows = []
    for index, quality in enumerate(QUALITIES):
        points = [evaluate(image, "jpeg", quality) for image in images]
        bpp = float(np.mean([p.bpp for p in points]))
        psnr = float(np.mean([p.psnr_db for p in points]))
        same_q = published["psnr"][index] if len(published["psnr"]) == len(QUALITIES) else float("nan")
        interp = float(np.interp(bpp, published["bpp"], published["psnr"]))
        rows.append({"quality": quality, "mean_bpp": bpp, "mean_psnr_db": psnr,
                     "mean_ssim": float(np.mean([p.ssim for p in points])),
                     "published_bpp_same_quality": (published["bpp"][index] if len(published["bpp"]) == len(QUALITIES)
                                                    else float("nan")),
                     "published_psnr_db_same_quality": same_q, "diff_same_quality_db": psnr - same_q,
                     "published_psnr_db_at_our_bpp": interp, "diff_at_our_bpp_db": psnr - interp})
        print(f"q={quality:2d}: {bpp:.4f} bpp, {psnr:.3f} dB (published {same_q:.3f}; diff {psnr - same_q:+.3f})",
              flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "jpeg_vs_published.csv", index=False)
    worst = float(table["diff_at_our_bpp_db"].abs().max())
    lines = [f"# Pillow JPEG on Kodak ({len(paths)} images) against the published Pillow JPEG curve", "",
             f"Largest |difference| at our mean bpp: {worst:.3f} dB (acceptance: < 0.5 dB). "
             f"Wall time {time.perf_counter() - start:.0f} s.", "",
             "| quality | mean bpp | mean PSNR dB | published PSNR (same quality) | diff dB "
             "| published at our bpp | diff dB |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['quality']} | {row['mean_bpp']:.4f} | {row['mean_psnr_db']:.3f} | "
                     f"{row['published_psnr_db_same_quality']:.3f} | {row['diff_same_quality_db']:+.3f} | "
                     f"{row['published_psnr_db_at_our_bpp']:.3f} | {row['diff_at_our_bpp_db']:+.3f} |")
    (out / "jpeg_vs_published.md").write_text("\n".join(lines) + "\n")
    print(f"largest |diff| {worst:.3f} dB -> {out / 'jpeg_vs_published.md'}")
    return 0 if worst < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
