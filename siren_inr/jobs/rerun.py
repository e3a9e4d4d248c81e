"""Rerun and resume: fit a recorded run again and compare, or continue a killed run in the same MLflow run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from siren_inr.errors import SirenInrError
from siren_inr.jobs.train import TrainJob, run_train_job
from siren_inr.names import DEVICE_TAG, IMAGE_TAG, MODE_TAG, RERUN_OF_TAG
from siren_inr.tracking.provenance import HOST_TAG, PID_TAG, run_process_alive
from siren_inr.tracking.queries import get_run
from siren_inr.tracking.rerun import (FitRecord, Tolerance, compare_runs, environment_warnings, load_run_record,
                                      record_comparison, recorded_final_psnr)
from siren_inr.tracking.resume import find_resume_point
from siren_inr.tracking.store import check_store, resolve_tracking_uri

DIR_ENV = "SIREN_INR_RERUN_DIR"  # the rerun's output folder, shared with DDP ranks 1..N-1
# Overrides that may accompany resume=<run_id>: they do not change the numbers of the fit.
RESUME_COMPATIBLE = ("resume", "tracking.uri", "progress", "debug", "show")

JobMaker = Callable[[dict], TrainJob]  # a recorded (resolved) train config -> the TrainJob that fits it


def job_from_record(record: FitRecord, uri: str, make_job: JobMaker, progress: str | None = None) -> TrainJob:
    """The TrainJob that fits a recorded run again: its resolved config, overrides, experiment and store."""
    config = dict(record.config)
    config.setdefault("resume", None)
    if progress:
        config["progress"] = progress
    job = make_job(config)
    job.tracking_uri = uri
    job.experiment_name = record.experiment_name
    job.overrides = list(record.overrides)
    return job


def refuse_compress_run(uri: str, run_id: str, command: str) -> None:
    """A compress run (its fit and its .inr file, or an encoding of run_id= weights) is not refitted by `rerun` or
    continued by `resume`, which redo `siren-inr train` runs: one line saying what redoes it."""
    info = get_run(uri, run_id)
    if info is None or info.tags.get(MODE_TAG) != "compress":
        return
    image = info.tags.get(IMAGE_TAG) or info.params.get("data.image") or "IMAGE"
    codec = info.tags.get("inr_codec") or info.params.get("inr_codec") or "coin"
    named = f"resume={run_id} names" if command == "resume" else f"run {run_id} is"
    raise SirenInrError(f"{named} a compress run ({codec}, of {image}); `siren-inr {command}` redoes runs of "
                        f"`siren-inr train`; to redo this one, run `siren-inr compress {image} OUT.inr` again with "
                        "its settings (its params in MLflow)")


def resume_job(run_id: str, current: TrainJob, cli_overrides: list[str], make_job: JobMaker) -> TrainJob:
    """The job that continues a killed run: its recorded config, its output folder, its last checkpoint."""
    extra = [o for o in cli_overrides if o.split("=", 1)[0].lstrip("+~") not in RESUME_COMPATIBLE]
    if extra:
        raise SirenInrError(f"resume={run_id} continues the run with its recorded settings; remove "
                            f"{' '.join(extra)} (accepted with resume: {', '.join(RESUME_COMPATIBLE)})")
    uri = resolve_tracking_uri(current.tracking_uri)
    check_store(uri, missing_ok=True)  # damaged or unreachable: one line naming the URI
    refuse_compress_run(uri, run_id, "resume")
    record = load_run_record(uri, run_id)
    info = get_run(uri, run_id)
    if info is not None and info.status == "RUNNING" and run_process_alive(info.tags) is not False:
        raise SirenInrError(f"resume={run_id}: the run is RUNNING and its process (host {info.tags.get(HOST_TAG)}, "
                            f"pid {info.tags.get(PID_TAG)}) is alive; stop it first, or wait for it to end")
    point = find_resume_point(uri, run_id)
    progress = current.fit.progress if any(o.startswith("progress=") for o in cli_overrides) else None
    job = job_from_record(record, uri, make_job, progress)
    job.run_name = record.run_name or None
    job.resume_run_id = run_id
    job.ckpt_path = str(point.checkpoint)
    job.output_dir = point.output_dir or current.output_dir
    job.tags = {}
    return job


@dataclass
class RerunResult:
    """What a rerun found: the new run, whether it matches, and what to tell the user."""

    run_id: str | None  # None on DDP ranks other than 0
    match: bool
    warnings: list[str]
    summary: str
    problems: list[str]


def rerun(run_id: str, tracking_uri: str | None, make_job: JobMaker, *, progress: str | None = None,
          tolerance: Tolerance | None = None, on_warning: Callable[[str], None] = lambda _: None) -> RerunResult:
    """Refit a recorded run into a new run tagged rerun_of, compare every history point and the final metrics."""
    uri = resolve_tracking_uri(tracking_uri)
    check_store(uri, missing_ok=True)  # damaged or unreachable: one line naming the URI
    refuse_compress_run(uri, run_id, "rerun")
    record = load_run_record(uri, run_id)
    rank_zero = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"
    warnings = environment_warnings(record.tags)
    if rank_zero:
        for warning in warnings:
            on_warning(warning + "; rerunning anyway")
        if record.status != "FINISHED":
            on_warning(f"run {run_id} ended {record.status}; its history may be incomplete")
    job = job_from_record(record, uri, make_job, progress)  # a resumed run is redone as one uninterrupted fit
    job.run_name = f"rerun of {record.run_name or run_id[:8]}"
    job.tags = {RERUN_OF_TAG: run_id}
    out = os.environ.get(DIR_ENV) or str(Path("outputs") / "rerun"
                                         / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{run_id[:8]}")
    os.environ[DIR_ENV] = out  # DDP ranks 1..N-1 re-run this command and must write into the same folder
    job.output_dir = Path(out)
    result = run_train_job(job)
    if result.run_id is None:
        return RerunResult(None, True, warnings, "", [])  # a DDP worker rank: rank 0 compares and reports
    exact = (record.tags.get(DEVICE_TAG, "").startswith("cpu") and job.fit.device() == "cpu"
             and bool(job.fit.deterministic))
    tol = tolerance or Tolerance()
    comparison = compare_runs(uri, run_id, result.run_id, exact, tol)
    record_comparison(uri, result.run_id, comparison, warnings)
    how = "bit for bit" if exact else f"within |Δpsnr| <= {tol.psnr_db} dB, rtol {tol.rtol}"
    verdict = "MATCHES" if comparison.match else "DIFFERS"
    history = ("identical" if exact and comparison.history_match else
               "matches" if comparison.history_match else "differs")
    summary = (f"rerun {result.run_id} of {run_id}: {verdict} ({how}); history {history} over {comparison.points} "
               f"metric points, final psnr {recorded_final_psnr(uri, run_id):.4f} dB recorded vs "
               f"{result.final['psnr']:.4f} dB now")
    return RerunResult(result.run_id, comparison.match, warnings, summary, list(comparison.problems))
