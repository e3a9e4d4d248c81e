"""Build every analysis output from run records: per-run plots and Benford files, tables, gallery, report.md."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from siren_inr.analysis.benford_plot import plot_benford
from siren_inr.analysis.figures import plot_gallery, plot_history_overlay, plot_run_history
from siren_inr.analysis.html_report import write_html_report
from siren_inr.analysis.records import (RunRecord, differing_settings, format_value, is_seed_key, run_label,
                                        short_setting_names)
from siren_inr.analysis.tables import (comparison_markdown, comparison_table, grouped_markdown, grouped_table,
                                       markdown_table, write_table)
from siren_inr.errors import SirenInrError
from siren_inr.metrics.benford import BenfordReport, benford_report, write_benford_json
from siren_inr.names import FINAL_PSNR, FINAL_SSIM, GROUND_TRUTH_ARTIFACT, HISTORY_ARTIFACT, RECONSTRUCTION_ARTIFACT

# Past this many tiles a gallery stops being readable on one page; the best runs by PSNR are kept.
MAX_GALLERY_RUNS = 35
RUNS_FOLDER = "runs"
HTML_REPORT_NAME = "report.html"


@dataclass
class RunOutputs:
    """One run's files under runs/<run_id>/ of the output folder (paths relative to it) and its Benford statistics."""

    run_id: str
    label: str
    benford: BenfordReport
    history_plot: str = field(init=False)
    benford_json: str = field(init=False)
    benford_plot: str = field(init=False)

    def __post_init__(self) -> None:
        folder = f"{RUNS_FOLDER}/{self.run_id}"
        self.history_plot, self.benford_json, self.benford_plot = (
            f"{folder}/{name}" for name in ("history.png", "benford.json", "benford.png"))

    def files(self) -> list[str]:
        """The run's files, for logging them back under the run's `analysis/` folder."""
        return [self.history_plot, self.benford_json, self.benford_plot]


@dataclass
class AnalysisOutputs:
    """What one analysis wrote into its output folder."""

    out_dir: Path
    run_ids: list[str]
    settings: list[str]
    runs: dict[str, RunOutputs] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # relative to out_dir
    report: Path | None = None


def missing_parts(record: RunRecord) -> list[str]:
    """What a run lacks for the analysis (empty when it can be analysed)."""
    missing = []
    if record.status != "FINISHED":
        missing.append(f"status {record.status} (needs FINISHED)")
    if record.history is None or record.history.empty:
        missing.append(HISTORY_ARTIFACT)
    if FINAL_PSNR not in record.final_metrics:
        missing.append(f"metric {FINAL_PSNR}")
    if record.ground_truth is None:
        missing.append(GROUND_TRUTH_ARTIFACT)
    if record.prediction is None:
        missing.append(RECONSTRUCTION_ARTIFACT)
    return missing


def analyze_records(records: list[RunRecord], out_dir: str | Path, title: str = "Analysis of tracked runs",
                    selection: str = "", skipped: list[tuple[str, str]] | None = None,
                    tracking_uri: str | None = None) -> AnalysisOutputs:
    """Write histories, tables, gallery, Benford files and report.md for runs that have what is needed."""
    if not records:
        raise SirenInrError("no runs to analyse")
    incomplete = [(r.run_id, "; ".join(missing_parts(r))) for r in records if missing_parts(r)]
    if incomplete:
        raise SirenInrError("runs lack what the analysis needs: "
                            + ", ".join(f"{rid} ({why})" for rid, why in incomplete))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = sorted(records, key=lambda r: -_finite(r.final_metrics.get(FINAL_PSNR)))
    keys = differing_settings(records)
    names = short_setting_names(keys)
    group_keys = [k for k in keys if not is_seed_key(k)]
    labels = {r.run_id: run_label(r, keys, names) for r in records}
    groups = {r.run_id: run_label(r, group_keys, short_setting_names(group_keys)) if group_keys
              else "all runs" for r in records}
    outputs = AnalysisOutputs(out_dir=out_dir, run_ids=[r.run_id for r in records], settings=keys)

    for record in records:
        outputs.runs[record.run_id] = _run_outputs(record, labels[record.run_id], out_dir)

    table = comparison_table(records, keys)
    write_table(table, comparison_markdown(table, keys), out_dir / "comparison.csv", out_dir / "comparison.md")
    outputs.files += ["comparison.csv", "comparison.md"]
    grouped = grouped_table(records, keys)
    if grouped is not None:
        write_table(grouped, grouped_markdown(grouped, keys), out_dir / "grouped.csv", out_dir / "grouped.md")
        outputs.files += ["grouped.csv", "grouped.md"]

    if len(records) > 1:
        plot_history_overlay([r.history for r in records], [labels[r.run_id] for r in records],
                             out_dir / "history_overlay.png",
                             groups=[groups[r.run_id] for r in records] if grouped is not None else None)
        outputs.files.append("history_overlay.png")
    if grouped is not None:
        # One tile per setting (its best seed) keeps a seeds sweep's gallery readable.
        best: dict[str, RunRecord] = {}
        for record in records:  # sorted by PSNR, so the first of a group is its best
            best.setdefault(groups[record.run_id], record)
        shown = list(best.values())
        captions = {r.run_id: f"{groups[r.run_id]} (best seed)" for r in shown}
    else:
        shown, captions = records, labels
    plot_gallery(_gallery_tiles(shown, captions), out_dir / "gallery.png", columns=4 if len(shown) < 12 else 6)
    outputs.files.append("gallery.png")

    summary = benford_summary(records, outputs)
    summary.to_csv(out_dir / "benford_summary.csv", index=False)
    outputs.files.append("benford_summary.csv")

    report = out_dir / "report.md"
    report.write_text(_report_markdown(title, selection, records, keys, labels, outputs, table, grouped,
                                       summary, skipped or [], tracking_uri))
    outputs.files.append("report.md")
    write_html_report(report, out_dir / HTML_REPORT_NAME)  # what the MLflow UI shows with its figures
    outputs.files.append(HTML_REPORT_NAME)
    outputs.report = report
    return outputs


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf


def _run_outputs(record: RunRecord, label: str, out_dir: Path) -> RunOutputs:
    result = RunOutputs(record.run_id, label, benford_report(record.ground_truth, record.prediction))
    plot_run_history(record.history, out_dir / result.history_plot, title=f"{label} ({record.short_id})")
    write_benford_json(result.benford, out_dir / result.benford_json)
    plot_benford(result.benford, out_dir / result.benford_plot, title=f"Benford: {label} ({record.short_id})")
    return result


def _gallery_tiles(records: list[RunRecord], labels: dict[str, str]) -> list[tuple[str, np.ndarray]]:
    shown = records[:MAX_GALLERY_RUNS]
    shared_truth = all(np.array_equal(r.ground_truth, shown[0].ground_truth) for r in shown)
    tiles: list[tuple[str, np.ndarray]] = []
    if shared_truth:
        tiles.append(("ground truth", shown[0].ground_truth))
    for record in shown:
        caption = f"{labels[record.run_id]}\n{record.final_metrics[FINAL_PSNR]:.2f} dB"
        if not shared_truth:
            tiles.append((f"ground truth ({record.short_id})", record.ground_truth))
        tiles.append((caption, record.prediction))
    return tiles


def benford_summary(records: list[RunRecord], outputs: AnalysisOutputs) -> pd.DataFrame:
    """One row per run: MAD, conformity class, chi-square p-value and JS(gt, rec) for pixels and DCT (pooled)."""
    rows = []
    for record in records:
        report = outputs.runs[record.run_id].benford
        row: dict[str, object] = {"run_id": record.run_id, "label": outputs.runs[record.run_id].label}
        for domain_name, domain in (("pixels", report.pixels), ("dct", report.dct)):
            comparison = domain.pooled
            for who, fit in (("gt", comparison.ground_truth), ("rec", comparison.prediction)):
                row[f"{domain_name}_{who}_mad"] = fit.mad
                row[f"{domain_name}_{who}_conformity"] = fit.conformity
                row[f"{domain_name}_{who}_chi2"] = fit.chi2
                row[f"{domain_name}_{who}_p_value"] = fit.p_value
            row[f"{domain_name}_kl_gt_rec_bits"] = comparison.kl_gt_to_prediction_bits
            row[f"{domain_name}_js_gt_rec_bits"] = comparison.js_gt_prediction_bits
        rows.append(row)
    return pd.DataFrame(rows)


def _benford_markdown(summary: pd.DataFrame) -> str:
    header = ["run", "pixels: MAD gt → rec", "class gt → rec", "JS(gt, rec) bit",
              "DCT: MAD gt → rec", "class gt → rec", "χ² p gt → rec", "JS(gt, rec) bit"]
    rows = []
    for _, row in summary.iterrows():
        rows.append([
            row["label"], f"{row['pixels_gt_mad']:.4f} → {row['pixels_rec_mad']:.4f}",
            f"{row['pixels_gt_conformity']} → {row['pixels_rec_conformity']}", f"{row['pixels_js_gt_rec_bits']:.2e}",
            f"{row['dct_gt_mad']:.4f} → {row['dct_rec_mad']:.4f}",
            f"{row['dct_gt_conformity']} → {row['dct_rec_conformity']}",
            f"{row['dct_gt_p_value']:.2g} → {row['dct_rec_p_value']:.2g}", f"{row['dct_js_gt_rec_bits']:.2e}"])
    return markdown_table(header, rows)


# Settings a reader needs to place a run, in reading order; shown when every run shares them.
HEADLINE_SETTINGS = ("model.name", "data.image", "data.sidelength", "model.hidden_features", "model.hidden_layers",
                     "num_epochs", "optim.lr", "data.batch_size", "seed")


def common_settings(records: list[RunRecord]) -> dict[str, str]:
    """The headline settings that have one value in every run."""
    common = {}
    for key in HEADLINE_SETTINGS:
        values = {r.params.get(key) for r in records}
        # "None" is how a null setting is stored as an MLflow param: not worth a mention.
        if len(values) == 1 and not values & {None, "None"}:
            common[key] = values.pop()
    return common


def _report_markdown(title: str, selection: str, records: list[RunRecord], keys: list[str],
                     labels: dict[str, str], outputs: AnalysisOutputs, table: pd.DataFrame,
                     grouped: pd.DataFrame | None, summary: pd.DataFrame, skipped: list[tuple[str, str]],
                     tracking_uri: str | None) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", ""]
    count = f"{len(records)} run{'s' if len(records) != 1 else ''} analysed"
    origin = f"{selection} ({count})" if selection else count
    if tracking_uri:
        origin += f" from `{tracking_uri}`"
    lines += [f"Generated by `siren-inr analyze` on {now}: {origin}.", ""]
    common = common_settings(records)
    if common:
        lines += ["Settings shared by " + ("all runs" if len(records) > 1 else "the run") + ": "
                  + ", ".join(f"`{k}={v}`" for k, v in common.items()) + ".", ""]
    if keys:
        lines += ["Settings that differ between the runs: " + ", ".join(f"`{k}`" for k in keys) + ".", ""]
    if skipped:
        lines += ["## Runs not analysed", ""]
        lines += [f"- `{run_id}`: {why}" for run_id, why in skipped]
        lines.append("")
    lines += ["## Comparison", "", "Ranked by final PSNR (full-image reconstruction, data range 1). "
              "[CSV](comparison.csv)", "", comparison_markdown(table, keys)]
    if grouped is not None:
        lines += ["## Across seeds", "",
                  "Mean ± sample standard deviation over runs that share every setting but the seed. "
                  "[CSV](grouped.csv)", "", grouped_markdown(grouped, keys)]
    lines += ["## Training histories", ""]
    if "history_overlay.png" in outputs.files:
        lines += ["![Training histories overlaid](history_overlay.png)", ""]
    else:
        lines += [f"![Training history]({outputs.runs[records[0].run_id].history_plot})", ""]
    lines += ["## Reconstructions", "", "![Ground truth and reconstructions](gallery.png)", ""]
    if grouped is not None:
        lines += ["The gallery shows the best seed of each setting.", ""]
    elif len(records) > MAX_GALLERY_RUNS:
        lines += [f"The gallery shows the {MAX_GALLERY_RUNS} runs with the highest PSNR.", ""]
    lines += ["## Benford's law", "",
              "Leading-digit distributions of the 8-bit pixel values (zeros excluded) and of the 8×8 "
              "block-DCT coefficients (orthonormal DCT-II of level-shifted blocks), pooled over channels, "
              "against Benford's P(d) = log10(1 + 1/d). MAD classes follow Nigrini's first-digit thresholds "
              "(close ≤ 0.006, acceptable ≤ 0.012, marginal ≤ 0.015, else nonconformity). "
              "[CSV](benford_summary.csv)", "", _benford_markdown(summary)]
    lines += ["## Runs", ""]
    for record in records:
        run = outputs.runs[record.run_id]
        lines += [f"### {run.label}", "",
                  f"Run `{record.run_id}`" + (f" ({record.run_name})" if record.run_name else "")
                  + f", model `{record.model_name}`: PSNR {record.final_metrics[FINAL_PSNR]:.2f} dB, "
                  f"SSIM {format_value(record.final_metrics.get(FINAL_SSIM))}, "
                  f"{format_value(record.steps)} steps, {format_value(record.wall_seconds)} s.", "",
                  f"![history of {run.label}]({run.history_plot})", "",
                  f"![Benford digits of {run.label}]({run.benford_plot}) "
                  f"([numbers]({run.benford_json}))", ""]
    return "\n".join(lines)
