"""What the version-3 latent codec bought over version 2 on the crops both rd_cpu studies share: BD-rate and BD-PSNR
of the new study's latent curves against the old study's, per image and on the mean curves over those images.

    python3 experiments/kodak_rd/latent_v3/compare_versions.py [--old-rev 2a83b07]

The old table is read from git (experiments/kodak_rd/rd_cpu/table.csv at --old-rev: version 2, 1,000 steps,
lambda 0.02 / 0.006 / 0.002), the new one from the working tree (version 3, 3,000 steps, lambda 0.01 / 0.004 /
0.001). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

import pandas as pd

from siren_inr.compression.bd import bd_metrics, mean_curves

REPO = Path(__file__).resolve().parents[3]
TABLE = "experiments/kodak_rd/rd_cpu/table.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-rev", default="2a83b07")
    parser.add_argument("--method", default="pchip")
    args = parser.parse_args()
    old_text = subprocess.run(["git", "-C", str(REPO), "show", f"{args.old_rev}:{TABLE}"], capture_output=True,
                              text=True, check=True).stdout
    old = pd.read_csv(io.StringIO(old_text))
    new = pd.read_csv(REPO / TABLE)
    old, new = old[old["codec"] == "latent"], new[new["codec"] == "latent"]
    images = sorted(set(old["image"]) & set(new["image"]))
    rows = []
    for image in images:
        m = bd_metrics(old[old["image"] == image], new[new["image"] == image], args.method,
                       anchor_name="version 2", test_name="version 3")
        rows.append({"image": image, **m})
    old_mean = mean_curves(old[old["image"].isin(images)])
    new_mean = mean_curves(new[new["image"].isin(images)])
    m = bd_metrics(old_mean[old_mean["codec"] == "latent"], new_mean[new_mean["codec"] == "latent"], args.method,
                   anchor_name="version 2", test_name="version 3")
    rows.append({"image": "mean curves", **m})
    print(pd.DataFrame(rows)[["image", "bd_rate_percent", "bd_psnr_db", "points", "bd_rate_note", "bd_psnr_note"]]
          .to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
