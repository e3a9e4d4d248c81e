"""Rewrite this study's report from its own table after the Cool-chic peer gained points (no codec is re-run).

    python3 experiments/kodak_rd/rd_cpu/rewrite_report.py

The peer (experiments/kodak_rd/coolchic_peer/) runs beside the study on the other core and may finish after it;
this calls the report writer `siren-inr rd` itself calls (siren_inr.analysis.rd_report.write_report) on the
committed table.csv, with the study's own settings (conf/experiment/rd_cpu.yaml) and the description lines of
the existing report.md, so that reference_bd.csv, the reference section and the figures use every peer point.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from siren_inr.analysis.rd_report import write_report
from siren_inr.compression.bd import bd_table, mean_curves

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
INR_CODECS = ["coin", "siren_pe", "latent"]
BD_METHOD = "akima"
CROP = 256
REFERENCE_DIR = "experiments/kodak_rd/coolchic_peer/results"


def main() -> None:
    table = pd.read_csv(HERE / "table.csv")
    codecs = [c for c in dict.fromkeys(table["codec"]) if c not in INR_CODECS]
    means = mean_curves(table)
    bd = bd_table(table, INR_CODECS, [*codecs, *INR_CODECS], BD_METHOD, means)
    lines = (HERE / "report.md").read_text().splitlines()
    start = lines.index("# Rate–distortion report") + 2
    description = []
    for line in lines[start:]:
        if not line.startswith("- "):
            break
        description.append(line[2:])
    os.chdir(REPO)  # the report names reference_dir relative to the repository, as the study did
    write_report(HERE, table, means, bd, description=description, inr_codecs=INR_CODECS, codecs=codecs,
                 bd_method=BD_METHOD, reference_dir=REFERENCE_DIR, reference_note=None, crop=CROP)


if __name__ == "__main__":
    main()
