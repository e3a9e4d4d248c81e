"""Reading runs back from MLflow (and logging analysis results onto them): the analysis and codec side."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siren_inr.errors import SirenInrError
from siren_inr.names import (EXPERIMENT_KIND_TAG, FINAL_PSNR, FINAL_SECONDS, FINAL_SSIM, INR_BPP, INR_PSNR,
                             RUN_KIND_TAG, SWEEP_KIND, TRAINING_EXPERIMENT_KIND)
from siren_inr.tracking.run import tracked_run
from siren_inr.tracking.store import artifact_root_for, mlflow_client, sqlite_path


@dataclass
class RunInfo:
    """A tracked run as plain values."""

    run_id: str
    run_name: str
    experiment_id: str
    experiment_name: str
    status: str
    start_time_ms: int | None
    end_time_ms: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # the latest value of each metric
    tags: dict[str, str] = field(default_factory=dict)
    artifact_uri: str = ""


def _store_exists(uri: str) -> bool:
    # Opening a SQLite URI creates the database: a query must never leave a new store behind.
    db = sqlite_path(uri)
    return db is None or db.is_file()


def _client(uri: str):
    return mlflow_client(uri)


def _info(run, experiment_names: dict[str, str]) -> RunInfo:
    data, info = run.data, run.info
    return RunInfo(run_id=info.run_id, run_name=info.run_name or "", experiment_id=info.experiment_id,
                   experiment_name=experiment_names.get(info.experiment_id, ""), status=info.status,
                   start_time_ms=info.start_time, end_time_ms=info.end_time, params=dict(data.params),
                   metrics=dict(data.metrics), tags=dict(data.tags), artifact_uri=info.artifact_uri)


def _experiment_names(client) -> dict[str, str]:
    return {e.experiment_id: e.name for e in client.search_experiments()}


def get_experiment(uri: str, name: str):
    """The active experiment called `name`, or None."""
    if not _store_exists(uri):
        return None
    experiment = _client(uri).get_experiment_by_name(name)
    return experiment if experiment is not None and experiment.lifecycle_stage == "active" else None


def list_experiment_names(uri: str) -> list[str]:
    """Names of the active experiments in the store."""
    if not _store_exists(uri):
        return []
    return sorted(e.name for e in _client(uri).search_experiments())


def get_run(uri: str, run_id: str) -> RunInfo | None:
    """The run with this id, or None when the store has no such run."""
    from mlflow.exceptions import MlflowException

    if not _store_exists(uri):
        return None
    client = _client(uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    return _info(run, _experiment_names(client))


def search_runs(uri: str, experiment_names: list[str] | None = None, filter_string: str | None = None,
                max_results: int = 1000) -> list[RunInfo]:
    """Runs of the named experiments (all when None), newest first; a filter MLflow rejects is a SirenInrError."""
    from mlflow.exceptions import MlflowException

    if not _store_exists(uri):
        return []
    client = _client(uri)
    names = _experiment_names(client)
    wanted = list(names) if experiment_names is None else [i for i, n in names.items() if n in experiment_names]
    if not wanted:
        return []
    try:
        runs = client.search_runs(wanted, filter_string=filter_string or "", max_results=max_results,
                                  order_by=["attributes.start_time DESC"])
    except MlflowException as err:
        raise SirenInrError(f"filter={filter_string!r} rejected by MLflow: {str(err).splitlines()[0]}") from None
    return [_info(run, names) for run in runs]


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) points of one metric, by step."""
    return sorted((m.step, m.value) for m in _client(uri).get_metric_history(run_id, key))


def download_artifact(uri: str, run_id: str, path: str, folder: str | Path) -> str | None:
    """Download one artifact of a run into `folder`; None when the run has no such artifact."""
    from mlflow.exceptions import MlflowException

    # Per-file download bars would bury the command's own output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    client = _client(uri)
    parent = str(Path(path).parent) if "/" in path else None
    try:
        listed = {item.path for item in client.list_artifacts(run_id, parent)}
        if path not in listed:
            return None
        return client.download_artifacts(run_id, path, str(folder))
    except (MlflowException, OSError):
        return None


def log_files(uri: str, run_id: str, files: list[str | Path], artifact_dir: str | None) -> None:
    """Upload files into a run's artifact folder (a run of any status)."""
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    try:
        for path in files:
            client.log_artifact(run_id, str(path), artifact_dir or None)
    except (MlflowException, OSError) as err:
        raise SirenInrError(f"could not log {artifact_dir}/ to run {run_id}: {str(err).splitlines()[0]}") from None


def log_analysis_run(uri: str, experiment: str, *, run_name: str, tags: dict[str, Any], params: dict[str, Any],
                     files: dict[str, list[Path]], parent_run_id: str | None = None, finish=None) -> str:
    """A run of its own holding an analysis's files (artifact folder -> files), nested under parent_run_id
    when given; `finish(run_id)` may return more {artifact folder: files} that need the run's id; its id."""
    with tracked_run(uri, experiment, run_name=run_name, tags=tags, params=params, parent_run_id=parent_run_id,
                     artifact_location=artifact_root_for(uri)) as run:
        for artifact_dir, paths in files.items():
            log_files(uri, run.run_id, paths, artifact_dir or None)
        for artifact_dir, paths in (finish(run.run_id) if finish else {}).items():
            log_files(uri, run.run_id, paths, artifact_dir or None)
    return run.run_id


def latest_experiment_id(uri: str) -> str | None:
    """The active experiment used last: the one of the run that started or ended last (None without runs)."""
    if not _store_exists(uri):
        return None
    client = _client(uri)
    ids = list(_experiment_names(client))
    if not ids:
        return None
    latest = []
    for order in ("attributes.start_time DESC", "attributes.end_time DESC"):
        for start in range(0, len(ids), 100):
            latest += client.search_runs(ids[start:start + 100], max_results=1, order_by=[order])
    if not latest:
        return None
    newest = max(latest, key=lambda run: max(run.info.start_time or 0, run.info.end_time or 0))
    return newest.info.experiment_id


def mark_training_experiments(uri: str) -> list[str]:
    """Tag every experiment without a kind as a training one, so MLflow 3's UI shows its runs; their ids."""
    client = _client(uri)
    marked = []
    for experiment in client.search_experiments():
        if EXPERIMENT_KIND_TAG not in experiment.tags:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_EXPERIMENT_KIND)
            marked.append(experiment.experiment_id)
    return marked


# MLflow 3's runs table keeps its columns and sort in the browser; a view it loads from an experiment tag
# `mlflow.sharedViewState.<key>` (a JSON object of its view state) when the URL names the key in
# `viewStateShareKey`. Column keys are `<metrics|params|attributes>.`<name>``.
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."
RESULTS_VIEW_KEY = "siren-inr-results"
RESULT_COLUMNS = (*(f"metrics.`{key}`" for key in (FINAL_PSNR, FINAL_SSIM, FINAL_SECONDS)), "params.`model.name`",
                  "params.`data.image`", "params.`seed`", *(f"metrics.`{key}`" for key in (INR_BPP, INR_PSNR)))


def results_view_state(expanded_run_ids: list[str]) -> dict:
    """The runs-table view siren-inr opens on: the final metrics and headline settings visible, best PSNR first,
    every sweep's parent expanded so its fits show."""
    return {"orderByKey": f"metrics.`{FINAL_PSNR}`", "orderByAsc": False, "selectedColumns": list(RESULT_COLUMNS),
            "runsExpanded": {run_id: True for run_id in expanded_run_ids}}


def publish_results_view(uri: str, experiment_id: str) -> str:
    """Store the results view on the experiment (a tag the UI reads); the key to put in the URL."""
    import json

    client = _client(uri)
    parents = client.search_runs([experiment_id], filter_string=f"tags.{RUN_KIND_TAG} = '{SWEEP_KIND}'",
                                 max_results=500)
    state = results_view_state([run.info.run_id for run in parents])
    client.set_experiment_tag(experiment_id, SHARED_VIEW_TAG_PREFIX + RESULTS_VIEW_KEY, json.dumps(state))
    return RESULTS_VIEW_KEY
