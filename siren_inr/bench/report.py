"""The benchmark's tables (Markdown, through pandas)."""

from __future__ import annotations

import math

import pandas as pd

LABELS = {"reference": "(a) plain loop, own process", "default": "(b) siren-inr train default"}


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def variant_label(variant: str, fast_label: str) -> str:
    """The row label of a variant."""
    if variant == "fast":
        return f"(c) {fast_label}"
    return LABELS.get(variant, f"(d) {variant}, per image")


def results_table(results: list, steps: int, fast_label: str = "trainer=fast") -> str:
    """Markdown table of the main benchmark (one row per case and variant)."""
    rows = []
    for r in results:
        early = [s for s in r.psnr_db if s <= steps // 2]
        rows.append({
            "case": r.case, "variant": variant_label(r.variant, fast_label),
            "median ms/step": _f(r.ms_median, 1), "mean ms/step": _f(r.ms_mean, 1),
            "CPU ms/step": _f(r.cpu_ms_median, 1), "ratio: median": _f(r.ratio_median, 3),
            "ratio: mean": _f(r.ratio_mean, 3), "ratio: CPU time": _f(r.ratio_cpu_median, 3),
            "ratio: paired steps": _f(r.ratio_paired_median, 3), "GFLOP/s": _f(r.gflops, 1),
            "of sgemm": _f(r.sgemm_fraction, 3),
            f"PSNR dB @ ≤{steps // 2}": _f(r.psnr_db[max(early)] if early else None),
            f"PSNR dB @ {steps}": _f(r.psnr_db.get(steps)),
            "step peak MiB": _f(r.step_peak_mib, 0),
        })
    return pd.DataFrame(rows).to_markdown(index=False)


def large_table(results: list) -> str:
    """Markdown table of the large-image memory check."""
    rows = [{"size": f"{r.size}²", "batch (pixels/step)": "full" if r.batch_size is None else str(r.batch_size),
             "steps": r.steps, "peak MiB during the fit": _f(r.fit_peak_mib, 0), "ms/step": _f(r.ms_per_step, 0)}
            for r in results]
    return pd.DataFrame(rows).to_markdown(index=False)
