"""Sweeps: the Hydra callback that prepares the store and the sweep's parent run, and the per-job sweep context."""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from hydra.experimental.callback import Callback

from siren_inr.cli.hydra_support import FAILURES_ENV, print_error
from siren_inr.errors import SirenInrError

# Overrides that never make runs differ in their numbers, so they do not go into run names.
QUIET_KEYS = ("experiment_name", "tracking.uri", "progress", "show", "debug", "run_name")


def swept_keys(overrides: list[str]) -> list[str]:
    """Keys of the overrides that take several values (a,b / range() / choice() / interval())."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.get_key_element() for o in parsed if o.is_sweep_override()]


def run_name_for(overrides: list[str], keys: list[str]) -> str | None:
    """'model=siren,seed=1': the job's values of the swept keys (what differs between the runs of a sweep)."""
    shown = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in keys and not o.startswith(QUIET_KEYS)]
    return ",".join(shown) or None


class SweepTracking(Callback):
    """Before the jobs of a multirun start: create the store once and open the parent run; close it at the end."""

    def __init__(self) -> None:
        self._record = None

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
                abandon_sweep(self._record)
            except Exception:  # noqa: BLE001 - best effort at interpreter exit
                pass


def apply_sweep_context(job, sweep_dir: str | Path) -> None:
    """Nest a multirun job's run under its sweep's parent run and name it by the swept values."""
    from siren_inr.tracking.store import resolve_tracking_uri
    from siren_inr.tracking.sweeps import job_tags, read_sweep_record

    record = read_sweep_record(sweep_dir)
    if record is None:
        return
    job.tags.update(job_tags(record, resolve_tracking_uri(job.tracking_uri), job.experiment_name))
    if not job.run_name:
        job.run_name = run_name_for(job.overrides, record.swept_keys)
