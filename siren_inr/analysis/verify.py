"""Compare two analysis folders by their numbers: do committed results match a fresh run of the same script?

Run ids, timestamps and wall times differ between runs by nature; what must agree is every run's final
metrics, step and parameter counts, and Benford statistics, matched by run name.

    python -m siren_inr.analysis.verify experiments/seed_report/results /tmp/fresh/results
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

# Columns that are a deterministic function of the config and the seed.
COMPARED_COLUMNS = {
    "comparison.csv": ("psnr_db", "ssim", "mse", "steps", "num_parameters"),
    "benford_summary.csv": ("pixels_gt_mad", "pixels_rec_mad", "pixels_rec_conformity", "pixels_js_gt_rec_bits",
                            "dct_gt_mad", "dct_rec_mad", "dct_rec_conformity", "dct_js_gt_rec_bits"),
}
KEY_COLUMNS = {"comparison.csv": "run_name", "benford_summary.csv": "label"}


def run_key(name: str) -> str:
    """A run name as the settings it names, so that names from before and after the naming change match:
    'model=siren,seed=0' (the overrides, as sweeps named runs before) and 'siren seed=0' (the model first)."""
    name = str(name)
    if "model=" in name and " " not in name:
        settings = dict(part.split("=", 1) for part in name.split(",") if "=" in part)
    else:
        first, *rest = name.split(" ")
        if "=" in first:
            return name  # not a run name of either form (a chosen run_name): compared as it is
        settings = {"model": first, **dict(part.split("=", 1) for part in rest if "=" in part)}
    return " ".join(f"{k}={v}" for k, v in sorted(settings.items()))


def _same(a: object, b: object, rtol: float) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    a, b = float(a), float(b)
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


def compare_result_folders(expected: str | Path, actual: str | Path, rtol: float = 1e-6) -> list[str]:
    """Differences between two analysis folders (empty when every compared number agrees within rtol)."""
    expected, actual = Path(expected), Path(actual)
    differences: list[str] = []
    for name, columns in COMPARED_COLUMNS.items():
        key = KEY_COLUMNS[name]
        paths = (expected / name, actual / name)
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            differences.append(f"missing {', '.join(missing)}")
            continue
        left, right = (pd.read_csv(p).assign(**{key: lambda f, k=key: f[k].map(run_key)}).set_index(key)
                       for p in paths)
        if sorted(left.index) != sorted(right.index):
            differences.append(f"{name}: runs differ: {sorted(left.index)} vs {sorted(right.index)}")
            continue
        for run in left.index:
            for column in columns:
                a, b = left.loc[run, column], right.loc[run, column]
                if not _same(a, b, rtol):
                    differences.append(f"{name}: {run}: {column} {a} vs {b}")
    return differences


def main(argv: list[str] | None = None) -> int:
    """Print the differences; exit 0 when the folders agree, 1 when they do not."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m siren_inr.analysis.verify EXPECTED_FOLDER ACTUAL_FOLDER", file=sys.stderr)
        return 2
    differences = compare_result_folders(*args)
    for line in differences:
        print(line)
    print("results match" if not differences else f"{len(differences)} difference(s)")
    return 0 if not differences else 1


if __name__ == "__main__":
    sys.exit(main())
