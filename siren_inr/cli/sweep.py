"""Sweeps: the Hydra callback that prepares the store and the sweep's parent run, and the per-job sweep context."""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from siren_inr.cli.command import debug_requested, report_exception
from siren_inr.cli.hydra_support import FAILURES_ENV, print_error
from siren_inr.errors import SirenInrError


def swept_keys(overrides: list[str]) -> list[str]:
    """Keys of the overrides that take several values (a,b / range() / choice() / interval())."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.get_key_element() for o in parsed if o.is_sweep_override()]


class SweepTracking(Callback):
    """Before the jobs of a multirun start: create the store once and open the parent run; close it at the end."""

    def __init__(self) -> None:
        self._record = None
        self._job_failed = False

    def on_job_end(self, config, job_return, **kwargs) -> None:
        from hydra.core.utils import JobStatus

        if job_return.status == JobStatus.FAILED:
            self._job_failed = True  # a job raised: the sweep ends FAILED, not KILLED

    def on_multirun_start(self, config, **kwargs) -> None:
        from omegaconf import OmegaConf

        from siren_inr.tracking.store import resolve_tracking_uri
        from siren_inr.tracking.sweeps import start_sweep

        overrides = list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
        try:
            uri = resolve_tracking_uri(config.tracking.uri)
            # Parallel jobs that find no store all try to create its schema, and all but one fail:
            # creating it here, once, before any job starts, avoids the race.
            self._record = start_sweep(uri, str(config.experiment_name), config.hydra.sweep.dir,
                                       swept_keys=swept_keys(overrides), overrides=overrides)
        except SirenInrError as err:
            print_error(str(err))
            sys.exit(2)
        atexit.register(self._abandon)
        print(f"sweep {self._record.sweep_id}: parent run {self._record.parent_run_id} -> {uri}", flush=True)

    def on_multirun_end(self, config, **kwargs) -> None:
        from siren_inr.tracking.sweeps import finish_sweep

        if self._record is None:
            return
        failures = os.environ.get(FAILURES_ENV)
        failed_jobs = len(Path(failures).read_text().splitlines()) if failures and Path(failures).is_file() else 0
        summary = finish_sweep(self._record, failed_jobs)
        best = (f", best final psnr {summary.best_psnr_db:.2f} dB (run {summary.best_run_id})"
                if summary.best_psnr_db is not None else "")
        print(f"sweep {self._record.sweep_id}: {summary.finished} run(s) finished, {summary.failed} failed{best}; "
              f"select it with: siren-inr analyze sweep={self._record.sweep_id}", flush=True)
        self._record = None

    def _abandon(self) -> None:
        # The sweep died before on_multirun_end (a job raised, Ctrl-C): never leave the parent RUNNING.
        from siren_inr.tracking.sweeps import abandon_sweep

        if self._record is not None:
            try:
                failures = os.environ.get(FAILURES_ENV)
                recorded = bool(failures and Path(failures).is_file() and Path(failures).read_text().strip())
                abandon_sweep(self._record, job_failed=self._job_failed or recorded)
            except Exception:  # noqa: BLE001 - best effort at interpreter exit
                pass


def optuna_main(argv: list[str], prog: str = "siren-inr train") -> int:
    """`siren-inr train -m hparams_search=<name> ...`: an Optuna study whose trials are tracked fits."""
    import time

    from omegaconf import OmegaConf

    from siren_inr.cli.config import compose, job_from_config, train_job
    from siren_inr.jobs.sweep import run_optuna_study

    overrides = [a for a in argv if a not in ("-m", "--multirun")]
    sweep_dir_arg = [a.split("=", 1)[1] for a in overrides if a.startswith("hydra.sweep.dir=")]
    overrides = [a for a in overrides if not a.startswith(("hydra.", "hydra/"))]
    debug = debug_requested(overrides)  # for the trials' failures; the study's own end as one line in run_command
    if swept_keys(overrides):
        raise SirenInrError("hparams_search chooses the swept values itself; give single values, not lists "
                            f"({', '.join(swept_keys(overrides))})")

    base_cfg = compose(overrides, "train")
    search = OmegaConf.to_object(base_cfg.hparams_search)
    sweep_dir = sweep_dir_arg[0] if sweep_dir_arg else time.strftime("multirun/%Y-%m-%d/%H-%M-%S")

    def failed(number: int, trial_overrides: list[str], err: BaseException) -> None:
        print_error(f"trial {number} ({','.join(trial_overrides)}) failed: {report_exception(err, debug)}",
                    prefix="warning")

    outcome = run_optuna_study(search, job_from_config(base_cfg), lambda extra: train_job([*overrides, *extra]),
                               overrides, sweep_dir, say=lambda text: print(text, flush=True), on_failure=failed)
    return 1 if outcome.failed_trials else 0
