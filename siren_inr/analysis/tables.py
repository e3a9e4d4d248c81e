"""Comparison tables of runs: one row per run ranked by PSNR, and mean ± std over seeds per setting."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.analysis.records import RunRecord, format_value, is_seed_key, short_setting_names
from siren_inr.names import FINAL_MSE, FINAL_PSNR, FINAL_SSIM

# (table column, the final metric it shows): not names.FINAL_METRICS, which lists the metric keys alone.
FINAL_METRIC_COLUMNS = (("psnr_db", FINAL_PSNR), ("ssim", FINAL_SSIM), ("mse", FINAL_MSE))


def comparison_table(records: list[RunRecord], keys: list[str]) -> pd.DataFrame:
    """A row per run: the settings in `keys`, final MSE/PSNR/SSIM, steps, wall time, parameters; best PSNR first."""
    rows = []
    for record in records:
        row: dict[str, object] = {"run_id": record.run_id, "run_name": record.run_name}
        row.update({key: record.params.get(key) for key in keys})
        for column, metric in FINAL_METRIC_COLUMNS:
            row[column] = record.final_metrics.get(metric, math.nan)
        row["steps"] = record.steps
        row["wall_seconds"] = record.wall_seconds
        row["num_parameters"] = record.num_parameters
        rows.append(row)
    table = pd.DataFrame(rows)
    table = table.sort_values("psnr_db", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def grouped_table(records: list[RunRecord], keys: list[str]) -> pd.DataFrame | None:
    """Mean and sample std (ddof=1) of the final metrics over runs that share all settings but the seed.

    None when no setting ran more than once, since a table of single runs would only repeat the comparison.
    """
    group_keys = [k for k in keys if not is_seed_key(k)]
    seed_keys = [k for k in keys if is_seed_key(k)]
    groups: dict[tuple, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(tuple(record.params.get(k) for k in group_keys), []).append(record)
    if all(len(members) == 1 for members in groups.values()):
        return None
    rows = []
    for values, members in groups.items():
        row: dict[str, object] = dict(zip(group_keys, values))
        row["runs"] = len(members)
        row["seeds"] = ",".join(
            sorted({str(m.params.get(seed_keys[0])) for m in members}, key=_natural)) if seed_keys else ""
        for column, metric in FINAL_METRIC_COLUMNS:
            samples = np.array([m.final_metrics.get(metric, math.nan) for m in members], dtype=float)
            samples = samples[np.isfinite(samples)]
            row[f"{column}_mean"] = float(samples.mean()) if samples.size else math.nan
            row[f"{column}_std"] = float(samples.std(ddof=1)) if samples.size > 1 else math.nan
        walls = [m.wall_seconds for m in members if m.wall_seconds is not None]
        row["wall_seconds_mean"] = float(np.mean(walls)) if walls else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values("psnr_db_mean", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def _natural(text: str) -> tuple:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """Formatted cells as a GitHub Markdown table (pandas' to_markdown; pipes inside cells escaped)."""
    def cell(text: object) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    frame = pd.DataFrame([[cell(c) for c in row] for row in rows], columns=[cell(h) for h in header])
    # The cells are already formatted: tabulate must not re-parse "1.50" as the number 1.5.
    return frame.to_markdown(index=False, tablefmt="github", disable_numparse=True) + "\n"


def comparison_markdown(table: pd.DataFrame, keys: list[str]) -> str:
    """The comparison table as Markdown, with short setting names and short run ids."""
    names = short_setting_names(keys)
    header = ["rank", "run"] + [names[k] for k in keys] + [
        "PSNR (dB)", "SSIM", "MSE", "steps", "wall (s)", "parameters"]
    rows = []
    for _, row in table.iterrows():
        run = str(row["run_id"])[:8] + (f" ({row['run_name']})" if row["run_name"] else "")
        rows.append([str(row["rank"]), run] + [format_value(row[k]) for k in keys] + [
            _fixed(row["psnr_db"], 2), _fixed(row["ssim"], 4), format_value(row["mse"], 3),
            format_value(_int_or_none(row["steps"])), _fixed(row["wall_seconds"], 1),
            format_value(_int_or_none(row["num_parameters"]))])
    return markdown_table(header, rows)


def grouped_markdown(table: pd.DataFrame, keys: list[str]) -> str:
    """The grouped table as Markdown with `mean ± std` cells."""
    group_keys = [k for k in keys if not is_seed_key(k)]
    names = short_setting_names(group_keys)
    header = [names[k] for k in group_keys] + ["runs", "seeds", "PSNR (dB)", "SSIM", "MSE", "wall (s)"]
    rows = []
    for _, row in table.iterrows():
        rows.append([format_value(row[k]) for k in group_keys] + [
            str(row["runs"]), str(row["seeds"]),
            _mean_std(row["psnr_db_mean"], row["psnr_db_std"], "{:.2f}"),
            _mean_std(row["ssim_mean"], row["ssim_std"], "{:.4f}"),
            _mean_std(row["mse_mean"], row["mse_std"], "{:.3g}"),
            _fixed(row["wall_seconds_mean"], 1)])
    return markdown_table(header, rows)


def _int_or_none(value: object) -> int | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return int(value)


def _fixed(value: object, decimals: int) -> str:
    if value is None or not math.isfinite(float(value)):
        return "-"
    return f"{float(value):.{decimals}f}"


def _mean_std(mean: float, std: float, fmt: str) -> str:
    if not math.isfinite(mean):
        return "-"
    if not math.isfinite(std):
        return fmt.format(mean)
    return f"{fmt.format(mean)} ± {fmt.format(std)}"


def write_table(table: pd.DataFrame, markdown: str, csv_path: str | Path, md_path: str | Path) -> None:
    """Write a table as CSV (full precision, full run ids) and as Markdown."""
    csv_path, md_path = Path(csv_path), Path(md_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv_path, index=False)
    md_path.write_text(markdown)
