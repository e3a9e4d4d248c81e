"""A sweep in MLflow: the store created once before parallel jobs start, and a parent run holding the jobs.

The parent run carries `run_kind=sweep` and the sweep id in the tag `sweep` (not `sweep_id`: selecting
`tags.sweep_id = '<id>'` must return the fits only). Each job finds the parent through a small record file
in the sweep folder, which every launcher (joblib, submitit on a shared file system) can read.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field as dc_field
from pathlib import Path

from siren_inr.names import (BEST_RUN_TAG, FINAL_PSNR, PARENT_TAG, RUN_KIND_TAG, SWEEP_BEST_FINAL_PSNR,
                             SWEEP_DIR_TAG, SWEEP_ID_TAG, SWEEP_JOBS_FAILED, SWEEP_JOBS_FINISHED, SWEEP_KIND,
                             SWEEP_KIND_TAG, SWEEP_OVERRIDES_TAG, SWEEP_TAG, SWEPT_KEYS_TAG)
from siren_inr.tracking.provenance import provenance_tags
from siren_inr.tracking.run import _client, get_or_create_experiment
from siren_inr.tracking.store import artifact_root_for, checked_experiment_name, ensure_store

RECORD_NAME = ".siren_inr_sweep.json"


@dataclass
class SweepRecord:
    """What the jobs of one sweep need to know about it (stored as JSON in the sweep folder)."""

    sweep_id: str
    parent_run_id: str
    tracking_uri: str
    experiment_name: str
    swept_keys: list[str] = dc_field(default_factory=list)
    kind: str = "grid"  # grid (Hydra's basic sweeper) | optuna


def sweep_id_for(sweep_dir: str | Path) -> str:
    """The sweep id derived from the sweep folder (its last two parts: date_time for Hydra's default folders)."""
    return "_".join(Path(sweep_dir).resolve().parts[-2:])


def start_sweep(uri: str, experiment_name: str, sweep_dir: str | Path, *, sweep_id: str | None = None,
                swept_keys: list[str] | tuple = (), overrides: list[str] | tuple = (), kind: str = "grid",
                extra_tags: dict | None = None) -> SweepRecord:
    """Create the store (once, before any parallel job), open the sweep's parent run and write its record."""
    experiment_name = checked_experiment_name(experiment_name)
    ensure_store(uri)
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    sweep_id = sweep_id or sweep_id_for(sweep_dir)
    experiment_id = get_or_create_experiment(uri, experiment_name, artifact_root_for(uri))
    tags = {**provenance_tags(), RUN_KIND_TAG: SWEEP_KIND, SWEEP_TAG: sweep_id, SWEEP_DIR_TAG: str(sweep_dir.resolve()),
            SWEEP_KIND_TAG: kind, SWEEP_OVERRIDES_TAG: " ".join(overrides), SWEPT_KEYS_TAG: ",".join(swept_keys),
            **(extra_tags or {})}
    run = _client(uri).create_run(experiment_id, run_name=f"sweep {sweep_id}",
                                  tags={k: str(v)[:5000] for k, v in tags.items() if v is not None})
    record = SweepRecord(sweep_id, run.info.run_id, uri, experiment_name, list(swept_keys), kind)
    tmp = sweep_dir / (RECORD_NAME + ".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1))
    tmp.replace(sweep_dir / RECORD_NAME)
    return record


def read_sweep_record(sweep_dir: str | Path) -> SweepRecord | None:
    """The record start_sweep() wrote in this folder, or None (a sweep started without our callback)."""
    path = Path(sweep_dir) / RECORD_NAME
    if not path.is_file():
        return None
    try:
        return SweepRecord(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None


def job_tags(record: SweepRecord | None, uri: str, experiment_name: str) -> dict[str, str]:
    """Tags that nest a job's run under the sweep's parent run (only when it goes to the same experiment)."""
    if record is None or record.tracking_uri != uri or record.experiment_name != experiment_name:
        return {}
    return {PARENT_TAG: record.parent_run_id, SWEEP_ID_TAG: record.sweep_id}


@dataclass
class SweepSummary:
    """How the jobs of a sweep ended, and the best final PSNR among them."""

    finished: int
    failed: int
    other: int
    best_run_id: str | None
    best_psnr_db: float | None


def child_runs(uri: str, record: SweepRecord) -> list:
    """The MLflow runs nested under the sweep's parent run."""
    client = _client(uri)
    parent = client.get_run(record.parent_run_id)
    runs, token = [], None
    while True:
        page = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`{PARENT_TAG}` = '{record.parent_run_id}'",
                                  max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def finish_sweep(record: SweepRecord, failed_jobs: int = 0) -> SweepSummary:
    """End the parent run: FINISHED when every job finished, FAILED otherwise; log counts and the best PSNR."""
    from mlflow.entities import Metric, RunTag

    client = _client(record.tracking_uri)
    runs = child_runs(record.tracking_uri, record)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    failed_runs = sum(r.info.status == "FAILED" for r in runs)
    scored = [(r.data.metrics[FINAL_PSNR], r.info.run_id) for r in finished
              if not math.isnan(r.data.metrics.get(FINAL_PSNR, math.nan))]
    best_psnr, best_id = max(scored) if scored else (None, None)
    # Jobs that failed before opening a run (bad values) are counted by the caller.
    summary = SweepSummary(len(finished), failed_runs + failed_jobs, len(runs) - len(finished) - failed_runs,
                           best_id, best_psnr)
    stamp = int(time.time() * 1000)
    metrics = [Metric(SWEEP_JOBS_FINISHED, summary.finished, stamp, 0),
               Metric(SWEEP_JOBS_FAILED, summary.failed, stamp, 0)]
    if best_psnr is not None:
        metrics.append(Metric(SWEEP_BEST_FINAL_PSNR, best_psnr, stamp, 0))
    tags = [RunTag(BEST_RUN_TAG, best_id)] if best_id else []
    client.log_batch(record.parent_run_id, metrics=metrics, tags=tags, synchronous=True)
    client.set_terminated(record.parent_run_id, "FAILED" if summary.failed or summary.other else "FINISHED")
    return summary


def abandon_sweep(record: SweepRecord, job_failed: bool = False) -> str | None:
    """End a parent run that never reached finish_sweep(): FAILED when a job failed (job_failed, or a FAILED child
    run), KILLED when the sweep was interrupted. Returns the status set (None if the run had already ended)."""
    client = _client(record.tracking_uri)
    if client.get_run(record.parent_run_id).info.status != "RUNNING":
        return None
    failed = job_failed or any(r.info.status == "FAILED" for r in child_runs(record.tracking_uri, record))
    status = "FAILED" if failed else "KILLED"
    client.set_terminated(record.parent_run_id, status)
    return status
