"""Select tracked runs, read them back through siren_inr.tracking, analyse them and log the results back."""

from __future__ import annotations

import io
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from siren_inr.analysis.records import RunRecord
from siren_inr.analysis.report import RUNS_FOLDER, AnalysisOutputs, analyze_records, missing_parts
from siren_inr.errors import SirenInrError
from siren_inr.validation import check_positive_int
from siren_inr.names import (ANALYSED_RUNS_TAG, ANALYSED_SWEEP_TAG, ANALYSIS_FOLDER, ANALYSIS_KIND, EPOCH_COLUMN,
                             FINAL_PREFIX, FINAL_PSNR, FINAL_SECONDS, FINAL_STEPS, GROUND_TRUTH_ARTIFACT,
                             HISTORY_ARTIFACT, NOTE_TAG, NUM_PARAMS_TAG, PARENT_TAG, RECONSTRUCTION_ARTIFACT,
                             RUN_KIND_TAG, SELECTION_TAG, STEP_COLUMN, SWEEP_ID_TAG)
from siren_inr.tracking import queries
from siren_inr.tracking.run import is_fit, run_kind

REPORT_NAME = "report.md"
ANALYSES_SUFFIX = " analyses"  # experiment of analysis runs that have no common parent run
MAX_RUN_NAME = 100

# The run an analysis logs for itself carries RUN_KIND_TAG = ANALYSIS_KIND, so that later selections never analyse
# an analysis; sweeps' parents and rate-distortion runs are skipped alike (names.NOT_FIT_KINDS).


@dataclass
class Selection:
    """Which runs to analyse: explicit ids, a sweep, a filter, an experiment, or (none given) the latest run."""

    experiment_name: str | None = None
    run_ids: list[str] = field(default_factory=list)
    sweep_id: str | None = None
    filter_string: str | None = None
    max_runs: int = 1000

    @property
    def is_default(self) -> bool:
        """No selection given: analyse the latest run of the default experiment."""
        return not (self.experiment_name or self.run_ids or self.sweep_id or self.filter_string)

    def describe(self, default_experiment: str) -> str:
        """The selection in words, for the report and messages."""
        if self.is_default:
            return f"the latest run of experiment `{default_experiment}`"
        parts = []
        if self.run_ids:
            parts.append("runs " + ", ".join(f"`{r}`" for r in self.run_ids))
        if self.sweep_id:
            parts.append(f"sweep `{self.sweep_id}`")
        if self.filter_string:
            parts.append(f"filter `{self.filter_string}`")
        if self.experiment_name:
            parts.append(f"experiment `{self.experiment_name}`")
        return " in ".join(parts) if len(parts) == 2 and self.experiment_name else ", ".join(parts)


@dataclass
class AnalysisOutcome:
    """What `analyze` did: the outputs, the runs it could not use and why, and the analysis run it logged."""

    outputs: AnalysisOutputs
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    analysis_run_id: str | None = None
    analysis_experiment: str | None = None


def _is_fit(run: queries.RunInfo) -> bool:
    return is_fit(run.tags)


def select_runs(selection: Selection, uri: str, default_experiment: str) -> tuple[list[queries.RunInfo],
                                                                                    list[tuple[str, str]]]:
    """The runs a selection names (newest first) and the named runs that do not exist or are not fits."""
    check_positive_int("max_runs", selection.max_runs)
    experiments = None
    if selection.experiment_name:
        if queries.get_experiment(uri, selection.experiment_name) is None:
            known = ", ".join(queries.list_experiment_names(uri)) or "none"
            raise SirenInrError(f"experiment_name={selection.experiment_name!r} does not exist in {uri}; "
                                f"experiments there: {known}")
        experiments = [selection.experiment_name]
    skipped: list[tuple[str, str]] = []
    if selection.run_ids:
        runs = []
        for run_id in dict.fromkeys(selection.run_ids):
            run = queries.get_run(uri, run_id)
            if run is None:
                skipped.append((run_id, f"no such run in {uri}"))
            elif not _is_fit(run):
                skipped.append((run_id, f"is a {run_kind(run.tags)} run, not a fit"))
            elif experiments and run.experiment_name not in experiments:
                skipped.append((run_id, f"belongs to experiment {run.experiment_name!r}, "
                                        f"not {selection.experiment_name!r}"))
            else:
                runs.append(run)
        if not runs:
            raise SirenInrError("none of the runs given can be analysed: "
                                + "; ".join(f"{rid} {why}" for rid, why in skipped))
        return runs, skipped

    filters = []
    if selection.filter_string:
        filters.append(selection.filter_string)
    if selection.sweep_id:
        filters.append(f"tags.{SWEEP_ID_TAG} = '{_quote(selection.sweep_id)}'")
    if selection.is_default:
        if queries.get_experiment(uri, default_experiment) is None:
            raise SirenInrError(f"no runs to analyse: experiment {default_experiment!r} does not exist in {uri}; "
                                "fit one with `siren-inr train` or choose experiment_name=, runs=, sweep=, filter=")
        experiments = [default_experiment]
    filter_string = " and ".join(filters) or None
    # Sweep parents, analysis and rate-distortion runs are dropped after the search (a tag `!=` filter would also
    # drop runs without the tag), so ask for a few more than wanted.
    found = queries.search_runs(uri, experiment_names=experiments, filter_string=filter_string,
                                max_results=selection.max_runs + 50)
    runs = [r for r in found if _is_fit(r)][: 1 if selection.is_default else selection.max_runs]
    if not runs:
        where = f"experiment {experiments[0]!r}" if experiments and len(experiments) == 1 else "any experiment"
        what = selection.describe(default_experiment)
        raise SirenInrError(f"no runs match {what} (searched {where} in {uri}){_filter_hint(selection, uri)}")
    return runs, skipped


def _quote(text: str) -> str:
    return text.replace("'", "\\'")


def _filter_hint(selection: Selection, uri: str) -> str:
    text = selection.filter_string or ""
    if "params." in text and "`" not in text:
        return ("; param keys are the flattened config, and keys with dots need backticks, "
                "e.g. filter=\"params.`model.name` = 'siren'\" (or tags.model = 'siren')")
    return ""


def _read_png(path: Path | None) -> np.ndarray | None:
    if path is None:
        return None
    with Image.open(path) as image:
        grey = image.mode in ("1", "L", "LA", "I", "I;16")
        array = np.asarray(image.convert("L" if grey else "RGB"))
    return array[..., None] if array.ndim == 2 else array


def _read_history(path: Path | None) -> pd.DataFrame | None:
    if path is None:
        return None
    history = pd.read_csv(io.StringIO(path.read_text()))
    return history if EPOCH_COLUMN in history else None


def load_record(run: queries.RunInfo, uri: str, scratch: Path) -> RunRecord:
    """A RunRecord with the history and images of one run downloaded into `scratch` (missing parts stay None)."""
    folder = scratch / run.run_id

    def fetch(artifact: str) -> Path | None:
        local = queries.download_artifact(uri, run.run_id, artifact, folder)
        return Path(local) if local else None

    history_path, gt_path, pred_path = (fetch(a) for a in (HISTORY_ARTIFACT, GROUND_TRUTH_ARTIFACT,
                                                           RECONSTRUCTION_ARTIFACT))
    history = _read_history(history_path)
    steps = run.metrics.get(FINAL_STEPS)
    if steps is None and history is not None and STEP_COLUMN in history and len(history):
        steps = history[STEP_COLUMN].iloc[-1]
    num_params = run.tags.get(NUM_PARAMS_TAG)
    record = RunRecord(
        run_id=run.run_id, run_name=run.run_name or "", experiment_name=run.experiment_name, status=run.status,
        params=dict(run.params), final_metrics={k: v for k, v in run.metrics.items() if k.startswith(FINAL_PREFIX)},
        tags=dict(run.tags), start_time_ms=run.start_time_ms, end_time_ms=run.end_time_ms, history=history,
        steps=int(steps) if steps is not None else None,
        num_parameters=int(num_params) if num_params and str(num_params).isdigit() else None,
        ground_truth=_read_png(gt_path), prediction=_read_png(pred_path))
    seconds = run.metrics.get(FINAL_SECONDS)
    if seconds is not None and record.start_time_ms is not None:
        # The fit's own clock, not the run's lifetime (which includes start-up and artifact uploads).
        record.end_time_ms = record.start_time_ms + int(round(seconds * 1000))
    return record


def _clear_previous_outputs(out_dir: Path) -> None:
    # Only what an analysis writes is removed, so a mistaken out= never deletes a user's other files.
    if (out_dir / RUNS_FOLDER).is_dir():
        shutil.rmtree(out_dir / RUNS_FOLDER)
    for name in ("report.md", "report.html", "comparison.csv", "comparison.md", "grouped.csv", "grouped.md",
                 "history_overlay.png", "gallery.png", "benford_summary.csv"):
        (out_dir / name).unlink(missing_ok=True)


def analyze(selection: Selection, out_dir: str | Path, tracking_uri: str | None = None, log_to_mlflow: bool = True,
            title: str | None = None, default_experiment: str = "siren-inr") -> AnalysisOutcome:
    """Analyse the selected runs into `out_dir`; raise SirenInrError only when no run could be analysed."""
    from siren_inr.tracking.store import check_store, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    # One line naming the URI for a missing, damaged or unreachable store; never creates one.
    check_store(uri, write=log_to_mlflow)
    runs, skipped = select_runs(selection, uri, default_experiment)
    description = selection.describe(default_experiment)
    records: list[RunRecord] = []
    with tempfile.TemporaryDirectory(prefix="siren-inr-analyze-") as scratch:
        for run in runs:
            record = load_record(run, uri, Path(scratch))
            missing = missing_parts(record)
            if missing:
                skipped.append((run.run_id, "lacks " + ", ".join(missing)))
            else:
                records.append(record)
    if not records:
        raise SirenInrError(f"nothing could be analysed from {description}: "
                            + "; ".join(f"run {rid} {why}" for rid, why in skipped))
    out_dir = Path(out_dir)
    _clear_previous_outputs(out_dir)
    outputs = analyze_records(records, out_dir, title=title or f"Analysis of {_plain(description)}",
                              selection=description, skipped=skipped, tracking_uri=_shown_uri(uri))
    outcome = AnalysisOutcome(outputs=outputs, skipped=skipped)
    if log_to_mlflow:
        _log_back(outcome, records, uri, selection, description)
    return outcome


def _shown_uri(uri: str) -> str:
    """The store as a reader can reuse it: a SQLite path inside the working directory is shown relative."""
    from siren_inr.tracking.store import sqlite_path

    db = sqlite_path(uri)
    if db is not None:
        try:
            return f"sqlite:///{db.resolve().relative_to(Path.cwd().resolve())}"
        except ValueError:
            return uri
    return uri


def _plain(description: str) -> str:
    return description.replace("`", "")


def _log_back(outcome: AnalysisOutcome, records: list[RunRecord], uri: str, selection: Selection,
              description: str) -> None:
    outputs = outcome.outputs
    for record in records:
        files = [outputs.out_dir / f for f in outputs.runs[record.run_id].files()]
        try:
            queries.log_files(uri, record.run_id, files, ANALYSIS_FOLDER)
        except SirenInrError as err:
            outcome.warnings.append(f"could not log analysis/ to run {record.run_id}: {err}")
    experiment, parent = analysis_home(records, selection)
    tags = {RUN_KIND_TAG: ANALYSIS_KIND, ANALYSED_RUNS_TAG: ",".join(outputs.run_ids),
            SELECTION_TAG: _plain(description)}
    if selection.sweep_id:
        tags[ANALYSED_SWEEP_TAG] = selection.sweep_id
    best = max(records, key=lambda r: r.final_metrics.get(FINAL_PSNR, float("-inf")))
    tags[NOTE_TAG] = (f"analysis of {_plain(description)}: {len(records)} run(s), best final PSNR "
                      f"{best.final_metrics[FINAL_PSNR]:.2f} dB ({outputs.runs[best.run_id].label}); "
                      "report.html shows the figures")
    params = {SELECTION_TAG: _plain(description), "num_runs": len(outputs.run_ids),
              "settings_that_differ": ",".join(outputs.settings) or "-"}
    files: dict[str, list[Path]] = {}
    for name in outputs.files:
        if name == REPORT_NAME:  # logged by finish() with links the MLflow UI resolves
            continue
        files.setdefault(str(Path(name).parent) if "/" in name else "", []).append(outputs.out_dir / name)
    for run_outputs in outputs.runs.values():
        for name in run_outputs.files():
            files.setdefault(str(Path(name).parent), []).append(outputs.out_dir / name)
    scratch = tempfile.TemporaryDirectory(prefix="siren-inr-report-")

    def finish(run_id: str) -> dict[str, list[Path]]:
        shown = Path(scratch.name) / REPORT_NAME
        shown.write_text(ui_markdown((outputs.out_dir / REPORT_NAME).read_text(), run_id))
        return {"": [shown]}

    try:
        run_name = numbered_run_name(analysis_run_name(description),
                                     _earlier_analyses(uri, experiment, _plain(description)))
        outcome.analysis_run_id = queries.log_analysis_run(uri, experiment, run_name=run_name,
                                                           tags=tags, params=params, files=files,
                                                           parent_run_id=parent, finish=finish)
    except Exception as err:  # noqa: BLE001 - the report is written; a store that refuses it only costs the copy
        outcome.warnings.append(f"the report is in {outputs.out_dir}, but logging it to MLflow failed: "
                                f"{type(err).__name__}: {' '.join(str(err).split())[:300]}")
        return
    finally:
        scratch.cleanup()
    outcome.analysis_experiment = experiment


def analysis_home(records: list[RunRecord], selection: Selection) -> tuple[str, str | None]:
    """(experiment, parent run) of an analysis run: a child of the runs' common parent (a sweep's parent run),
    else a run of the experiment `<experiment> analyses`, so that it never sits among the fits it compares."""
    parents = {r.tags.get(PARENT_TAG) for r in records}
    experiments = {r.experiment_name for r in records}
    if len(parents) == 1 and None not in parents and len(experiments) == 1:
        return records[0].experiment_name, parents.pop()
    return f"{selection.experiment_name or records[0].experiment_name}{ANALYSES_SUFFIX}", None


def _earlier_analyses(uri: str, experiment: str, selection: str) -> int:
    runs = queries.search_runs(uri, [experiment], filter_string=f"tags.{RUN_KIND_TAG} = '{ANALYSIS_KIND}'")
    return sum(1 for run in runs if run.tags.get(SELECTION_TAG) == selection)


def numbered_run_name(name: str, earlier: int) -> str:
    """The name of the (earlier + 1)-th analysis of one selection: `name`, then `name (2)`, `name (3)`, ...
    (a re-run is a new run that says so, never a second run of the same name)."""
    if not earlier:
        return name
    suffix = f" ({earlier + 1})"
    return (name if len(name) + len(suffix) <= MAX_RUN_NAME else name[:MAX_RUN_NAME - len(suffix) - 1] + "…") + suffix


def analysis_run_name(description: str) -> str:
    """The analysis run's name: what it analysed, e.g. `analysis of sweep 1a2b` (cut to a readable length)."""
    name = f"analysis of {_plain(description)}"
    return name if len(name) <= MAX_RUN_NAME else name[:MAX_RUN_NAME - 1] + "…"


_LINK = re.compile(r"(!?\[[^\]]*\])\(([^)\s]+)\)")


def ui_markdown(markdown: str, run_id: str) -> str:
    """report.md with its relative links pointing at the run's artifacts as the MLflow UI serves them.

    The UI renders a Markdown artifact inside its own page, where `gallery.png` would resolve against the
    UI's address; `get-artifact?path=...&run_uuid=...` is the server's artifact route, relative to the same
    base (under a --static-prefix too), so each figure's link opens it. MLflow 3.17's viewer draws no image from
    such an address (seen in the browser test): the figures are drawn in report.html, logged beside it.
    """
    def rewrite(match: re.Match) -> str:
        label, target = match.groups()
        if "://" in target or target.startswith(("#", "/", "mailto:", "get-artifact")):
            return match.group(0)
        return f"{label}(get-artifact?path={urllib.parse.quote(target)}&run_uuid={run_id})"

    return _LINK.sub(rewrite, markdown)
