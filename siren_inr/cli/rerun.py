"""`siren-inr rerun <run_id> [key=value ...]`: refit a tracked run from its record and say whether it matches."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from siren_inr.cli.hydra_support import print_error, report_exception
from siren_inr.errors import SirenInrError

OPTIONS = {"tracking.uri": None, "progress": None, "psnr_tol_db": "0.05", "rtol": "1e-3", "debug": "false"}
DIR_ENV = "SIREN_INR_RERUN_DIR"  # the rerun's output folder, shared with DDP ranks 1..N-1

_HELP = """usage: {prog} <run_id> [tracking.uri=...] [progress=auto|bar|lines|none] [psnr_tol_db=0.05] [rtol=1e-3]

Fits the run again from its recorded config (config/config.yaml: model, data, seed, optimiser, trainer) into a
new MLflow run tagged rerun_of=<run_id> in the same experiment, then compares the metric histories
(train/loss, train/psnr, train/ssim at every logged step) and the final metrics:
  - bit for bit when both fits ran on the CPU with trainer.deterministic=true;
  - otherwise within |Δpsnr| <= psnr_tol_db dB and relative differences <= rtol (loss, SSIM, MSE).
The verdict is printed and recorded on the new run (tags rerun_match, rerun_history_match, rerun_final_match,
metrics rerun/max_abs_diff/<key>). A run recorded with other package versions, at another git commit or from
a dirty tree still reruns, with a warning. Exit status: 0 when it matches, 1 when it differs, 2 on bad input.
tracking.uri: the store holding the run (default ./mlruns/mlflow.db); the rerun goes to the same store."""


def _parse(argv: list[str]) -> tuple[str, dict[str, str]]:
    positional = [a for a in argv if "=" not in a]
    options = dict(OPTIONS)
    for arg in argv:
        if "=" in arg:
            key, value = arg.split("=", 1)
            if key not in OPTIONS:
                raise SirenInrError(f"unknown setting {key!r}; accepted: {', '.join(OPTIONS)}")
            options[key] = value
    if len(positional) != 1:
        raise SirenInrError(f"give exactly one run id (got {len(positional)}: {' '.join(positional) or 'none'})")
    for key in ("psnr_tol_db", "rtol"):
        try:
            if float(options[key]) < 0:
                raise ValueError
        except ValueError:
            raise SirenInrError(f"{key}={options[key]!r}; accepted: a number >= 0") from None
    return positional[0], options


def job_from_record(record, uri: str, progress: str | None = None):
    """The TrainJob that fits a recorded run again: its resolved config, overrides, experiment and store."""
    from omegaconf import OmegaConf

    from siren_inr.cli.config import job_from_config

    config = dict(record.config)
    config.setdefault("resume", None)
    if progress:
        config["progress"] = progress
    job = job_from_config(OmegaConf.create(config))
    job.tracking_uri = uri
    job.experiment_name = record.experiment_name
    job.overrides = list(record.overrides)
    return job


# Overrides that may accompany resume=<run_id>: they do not change the numbers of the fit.
RESUME_COMPATIBLE = ("resume", "tracking.uri", "progress", "debug", "show")


def resume_job(run_id: str, current, cli_overrides: list[str]):
    """The job that continues a killed run: its recorded config, its output folder, its last checkpoint."""
    from siren_inr.tracking.rerun import load_run_record
    from siren_inr.tracking.resume import find_resume_point
    from siren_inr.tracking.store import resolve_tracking_uri

    extra = [o for o in cli_overrides if o.split("=", 1)[0].lstrip("+~") not in RESUME_COMPATIBLE]
    if extra:
        raise SirenInrError(f"resume={run_id} continues the run with its recorded settings; remove "
                            f"{' '.join(extra)} (accepted with resume: {', '.join(RESUME_COMPATIBLE)})")
    uri = resolve_tracking_uri(current.tracking_uri)
    record = load_run_record(uri, run_id)
    point = find_resume_point(uri, run_id)
    progress = current.fit.progress if any(o.startswith("progress=") for o in cli_overrides) else None
    job = job_from_record(record, uri, progress)
    job.run_name = record.run_name or None
    job.resume_run_id = run_id
    job.ckpt_path = str(point.checkpoint)
    job.output_dir = point.output_dir or current.output_dir
    job.tags = {}
    return job


def rerun(run_id: str, options: dict[str, str]) -> int:
    """Refit the run, compare, record; returns the exit status."""
    from siren_inr.jobs.train import run_train_job
    from siren_inr.tracking.rerun import (Tolerance, compare_runs, environment_warnings, load_run_record,
                                          record_comparison)
    from siren_inr.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(options["tracking.uri"])
    record = load_run_record(uri, run_id)
    rank_zero = os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"
    warnings = environment_warnings(record.tags)
    if rank_zero:
        for warning in warnings:
            print_error(warning + "; rerunning anyway", prefix="warning")
        if record.status != "FINISHED":
            print_error(f"run {run_id} ended {record.status}; its history may be incomplete", prefix="warning")
    job = job_from_record(record, uri, options["progress"])  # a resumed run is redone as one uninterrupted fit
    job.run_name = f"rerun of {record.run_name or run_id[:8]}"
    job.tags = {"rerun_of": run_id}
    out = os.environ.get(DIR_ENV) or str(Path("outputs") / "rerun" / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{run_id[:8]}")
    os.environ[DIR_ENV] = out  # DDP ranks 1..N-1 re-run this command and must write into the same folder
    job.output_dir = Path(out)
    result = run_train_job(job)
    if result.run_id is None:
        return 0  # a DDP worker rank: rank 0 compares and reports
    device_now = job.fit.device()
    exact = (record.tags.get("device", "").startswith("cpu") and device_now == "cpu"
             and bool(job.fit.deterministic))
    tol = Tolerance(psnr_db=float(options["psnr_tol_db"]), rtol=float(options["rtol"]))
    comparison = compare_runs(uri, run_id, result.run_id, exact, tol)
    record_comparison(uri, result.run_id, comparison, warnings)
    how = "bit for bit" if exact else f"within |Δpsnr| <= {tol.psnr_db} dB, rtol {tol.rtol}"
    verdict = "MATCHES" if comparison.match else "DIFFERS"
    print(f"rerun {result.run_id} of {run_id}: {verdict} ({how}); history "
          f"{'identical' if exact and comparison.history_match else 'matches' if comparison.history_match else 'differs'}"
          f" over {comparison.points} metric points, final psnr {record_final(uri, run_id):.4f} dB recorded vs "
          f"{result.final['psnr']:.4f} dB now", flush=True)
    for problem in comparison.problems:
        print(f"  {problem}", flush=True)
    return 0 if comparison.match else 1


def record_final(uri: str, run_id: str) -> float:
    """The recorded final PSNR of a run (nan when absent)."""
    from siren_inr.tracking.run import _client

    return _client(uri).get_run(run_id).data.metrics.get("final/psnr", float("nan"))


def main(argv: list[str] | None = None, prog: str = "siren-inr rerun") -> int:
    """Entry point of `siren-inr rerun`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or any(a in ("-h", "--help") for a in argv):
        print(_HELP.format(prog=prog))
        return 0 if argv else 2
    debug = any(a in ("debug=true", "debug=True") for a in argv)
    try:
        run_id, options = _parse(argv)
        return rerun(run_id, options)
    except (SirenInrError, MemoryError) as err:
        report_exception(err, debug)
        return 2 if isinstance(err, SirenInrError) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
