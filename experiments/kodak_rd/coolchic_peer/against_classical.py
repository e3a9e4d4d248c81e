"""The peer's and our latent codec's BD against each classical codec of the committed rd_cpu study, side by side: the
same classical curves (experiments/kodak_rd/rd_cpu/table.csv and mean_curves.csv), the same crops.

    python3 experiments/kodak_rd/coolchic_peer/against_classical.py [--method akima]

Prints a Markdown table: BD-rate and BD-PSNR on the mean curves (the peer's mean over the study's images, point by
point) and the mean of the per-image BD-rates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.compression.bd import bd_metrics
from siren_inr.compression.classical import DISPLAY_NAMES, display_name

HERE = Path(__file__).resolve().parent
STUDY = HERE.parent / "rd_cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="akima")
    parser.add_argument("--reference", type=Path, default=HERE / "results" / "coolchic-lop.json")
    args = parser.parse_args()
    table, means = pd.read_csv(STUDY / "table.csv"), pd.read_csv(STUDY / "mean_curves.csv")
    per_image = json.loads(args.reference.read_text())["results"]["per_image"]
    images = list(dict.fromkeys(table["image"]))
    peer = {name: pd.DataFrame({"bpp": per_image[Path(name).stem]["bpp"],
                                "psnr_db": per_image[Path(name).stem]["psnr"]})
            for name in images}
    peer_mean = pd.DataFrame({"bpp": np.mean([c["bpp"] for c in peer.values()], axis=0),
                              "psnr_db": np.mean([c["psnr_db"] for c in peer.values()], axis=0)})
    rows = []
    for codec in [c for c in DISPLAY_NAMES if c in set(table["codec"])]:
        for test_name, mean_curve, curve_of in (
                ("latent (ours)", means[means["codec"] == "latent"],
                 lambda name: table[(table["image"] == name) & (table["codec"] == "latent")]),
                ("Cool-chic lop", peer_mean, lambda name: peer[name])):
            on_means = bd_metrics(means[means["codec"] == codec], mean_curve, args.method)
            per = [bd_metrics(table[(table["image"] == name) & (table["codec"] == codec)], curve_of(name),
                              args.method)["bd_rate_percent"] for name in images]
            rows.append({"against": display_name(codec), "codec": test_name,
                         "BD-rate % (mean curves)": round(on_means["bd_rate_percent"], 1),
                         "BD-PSNR dB (mean curves)": round(on_means["bd_psnr_db"], 2),
                         "mean of per-image BD-rate %": round(float(np.nanmean(per)), 1)})
    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
