"""Run lifecycle: start a run, log to it, and always end it FINISHED, FAILED or KILLED."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only

from siren_inr.errors import SirenInrError, disk_full
from siren_inr.names import (EXPERIMENT_KIND_TAG, FAILED_REASON_TAG, KILLED_REASON_TAG, LEGACY_KIND_TAG, LEGACY_KINDS,
                             NOT_FIT_KINDS, PARENT_TAG, RD_POINT_KIND, RD_STUDY_KIND, RUN_KIND_TAG)
from siren_inr.names import TRAINING_EXPERIMENT_KIND as TRAINING_KIND
from siren_inr.tracking.store import mlflow_client as _client
from siren_inr.tracking.store import release_reserve

MAX_PARAM_LENGTH = 6000
BATCH = 100  # MLflow accepts at most 100 params / 1000 metrics per log_batch




def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {'a.b.c': value}; lists stay whole (as their string form)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def get_or_create_experiment(uri: str, name: str, artifact_location: str | None = None) -> str:
    """Experiment id of `name`, created (with our artifact root) when missing; safe against a parallel creator."""
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            raise SirenInrError(f"experiment_name={name!r} is deleted in the store; restore it or pick another name")
        if EXPERIMENT_KIND_TAG not in experiment.tags:  # made by an older version: show its runs in the UI
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location,
                                        tags={EXPERIMENT_KIND_TAG: TRAINING_KIND})
    except MlflowException:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def run_kind(tags: Mapping[str, str]) -> str | None:
    """The kind of run its tags describe (None for a fit): its run_kind tag, or for a rate-distortion run recorded
    before it carried one, its old `kind` tag."""
    kind = tags.get(RUN_KIND_TAG)
    if kind:
        return kind
    legacy = tags.get(LEGACY_KIND_TAG)
    return legacy if legacy in LEGACY_KINDS else None


def is_fit(tags: Mapping[str, str]) -> bool:
    """Whether the run records one fit (not a sweep's parent, an analysis or a rate-distortion study or point)."""
    return run_kind(tags) not in NOT_FIT_KINDS


def rd_run_tags(is_point: bool) -> dict[str, str]:
    """The kind tags of a rate-distortion study's parent run or of one of its point runs: run_kind, and the old
    `kind` tag that stores written before run_kind hold (so one filter finds old and new rd runs alike)."""
    kind = RD_POINT_KIND if is_point else RD_STUDY_KIND
    return {RUN_KIND_TAG: kind, LEGACY_KIND_TAG: kind}


def finite_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics that have a finite value, as floats (a codec with no file at a rate reports NaN/None)."""
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


def metric_points(metrics: dict[str, float], step: int | None) -> list:
    """MLflow Metric entities for one step, stamped now."""
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    return [Metric(key, float(value), stamp, int(step or 0)) for key, value in metrics.items()]


class MlflowRunLogger(Logger):
    """Lightning logger that writes metric points into one existing MLflow run (rank 0 only)."""

    def __init__(self, uri: str, run_id: str, experiment_name: str, asynchronous: bool = False):
        super().__init__()
        self._uri, self._run_id, self._experiment_name = uri, run_id, experiment_name
        self._client = None
        # Asynchronous: a point is queued and written by MLflow's background thread, so a fit never
        # waits on the store (a synchronous SQLite write costs tens of ms, more than a GPU step);
        # finalize() waits for every queued point.
        self._asynchronous = asynchronous
        self._pending: list = []

    @property
    def name(self) -> str:
        return self._experiment_name

    @property
    def version(self) -> str:
        return self._run_id

    @property
    def experiment(self):
        if self._client is None:
            self._client = _client(self._uri)
        return self._client

    @rank_zero_only
    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """Params are the resolved config, logged once by the run itself."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        points = metric_points(metrics, step)
        if self._asynchronous:
            self._pending.append(self.experiment.log_batch(self._run_id, metrics=points, synchronous=False))
        else:
            self.experiment.log_batch(self._run_id, metrics=points, synchronous=True)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Wait until every queued metric point is in the store (Lightning calls this when a fit ends)."""
        pending, self._pending = self._pending, []
        for operation in pending:
            operation.wait()

    def __getstate__(self):
        # The client holds a DB engine; processes that receive this logger open their own.
        state = self.__dict__.copy()
        state["_client"] = None
        state["_pending"] = []
        return state


class TrackedRun:
    """One MLflow run, logged to through the client (no global active-run state)."""

    def __init__(self, uri: str, run_id: str, experiment_id: str, experiment_name: str):
        self.uri, self.run_id, self.experiment_id, self.experiment_name = uri, run_id, experiment_id, experiment_name
        self.client = _client(uri)

    def log_params(self, params: dict[str, Any]) -> None:
        """Log params (values stringified, long ones truncated)."""
        from mlflow.entities import Param

        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[i:i + BATCH], synchronous=True)

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set tags (values stringified)."""
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in tags.items() if v is not None]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, tags=items[i:i + BATCH], synchronous=True)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log metric points at one step (synchronously)."""
        self.client.log_batch(self.run_id, metrics=metric_points(metrics, step), synchronous=True)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload one file into the run's artifact folder `artifact_path`."""
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_artifacts(self, folder: str | Path, artifact_path: str | None = None) -> None:
        """Upload a folder's contents into the run's artifact folder `artifact_path`."""
        self.client.log_artifacts(self.run_id, str(folder), artifact_path)

    def lightning_logger(self) -> MlflowRunLogger:
        """A Lightning logger bound to this run (asynchronous: the fit does not wait on the store)."""
        return MlflowRunLogger(self.uri, self.run_id, self.experiment_name, asynchronous=True)

    def end(self, status: str) -> None:
        """Mark the run FINISHED, FAILED or KILLED."""
        self.client.set_terminated(self.run_id, status)


# Every SIGTERM/SIGINT any open run received: an outer run (a study around its point runs) ends KILLED too,
# even when the handler that caught the signal belonged to an inner run and the exception that reached the
# outer run changed on the way (Lightning turns the interrupt into SystemExit).
_SIGNALS_SEEN: list[int] = []
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def note_stop_signal(signum: int) -> bool:
    """Record a SIGTERM/SIGINT this process received; whether it is the first (then the caller stops the work)."""
    first = not _SIGNALS_SEEN
    _SIGNALS_SEEN.append(signum)
    return first


def stop_signals_seen() -> list[int]:
    """Every SIGTERM/SIGINT this process received so far, first first."""
    return list(_SIGNALS_SEEN)


@contextlib.contextmanager
def _interrupts_as_exit() -> Iterator[None]:
    # A SIGTERM (a scheduler, `kill`) or Ctrl-C must end the run KILLED, never leave it RUNNING. The first
    # signal raises KeyboardInterrupt; repeats while the run is being stopped are only recorded, so that a
    # second `kill` or Ctrl-C cannot cut the shutdown short before the run is marked KILLED.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    start = len(_SIGNALS_SEEN)

    def handler(signum, frame):
        stopping = len(_SIGNALS_SEEN) > start
        _SIGNALS_SEEN.append(signum)
        if not stopping:
            raise KeyboardInterrupt(f"signal {signum}")

    previous = {signum: signal.signal(signum, handler) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


def with_room(uri: str, write: Callable[[], None]) -> None:
    """Run a write that ends a run, even on a full disk: when the store cannot be written for lack of room, the
    reserve kept beside a SQLite store is given back to the disk and the write is made once more with that room."""
    try:
        write()
    except Exception as err:
        if not (disk_full(err) and release_reserve(uri)):
            raise
        write()


def end_run(tracked: TrackedRun, status: str) -> None:
    """Mark the run ended, even on a full disk (with_room)."""
    with_room(tracked.uri, lambda: tracked.end(status))


@contextlib.contextmanager
def tracked_run(uri: str, experiment_name: str, *, run_name: str | None = None, tags: dict | None = None,
                params: dict | None = None, run_id: str | None = None, parent_run_id: str | None = None,
                artifact_location: str | None = None) -> Iterator[TrackedRun]:
    """Start (or, with run_id, reopen) a run; end it FINISHED on success, KILLED on interrupt, FAILED on error."""
    from siren_inr.tracking.provenance import process_tags

    client = _client(uri)
    if run_id is not None:
        run = client.get_run(run_id)
        experiment_id = run.info.experiment_id
        client.update_run(run_id, status="RUNNING")
        TrackedRun(uri, run_id, experiment_id, experiment_name).set_tags(process_tags())  # this process writes it now
    else:
        experiment_id = get_or_create_experiment(uri, experiment_name, artifact_location)
        all_tags = {**process_tags(), **(tags or {})}
        if parent_run_id:
            all_tags[PARENT_TAG] = parent_run_id
        run = client.create_run(experiment_id, run_name=run_name,
                                tags={k: str(v) for k, v in all_tags.items() if v is not None})
        run_id = run.info.run_id
    tracked = TrackedRun(uri, run_id, experiment_id, experiment_name)
    status = "FAILED"
    signals_before = len(_SIGNALS_SEEN)
    # The handlers stay installed until the run is marked ended: a repeated signal cannot interrupt that.
    with _interrupts_as_exit():
        try:
            if params:
                tracked.log_params(params)
            if tags and run_id is not None:
                tracked.set_tags(tags)
            yield tracked
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            # Lightning turns an interrupt into SystemExit after its own shutdown; a signal still means KILLED,
            # whichever of the nested runs' handlers caught it.
            end_run(tracked, "KILLED" if len(_SIGNALS_SEEN) > signals_before else status)



def end_finished_run(uri: str, run_id: str, status: str, reason: str) -> None:
    """Mark a run that had ended FINISHED as FAILED or KILLED after all, tagged why (a compress whose fit ended
    but whose file was never written)."""
    client = _client(uri)

    def write() -> None:
        client.set_tag(run_id, KILLED_REASON_TAG if status == "KILLED" else FAILED_REASON_TAG,
                       reason[:MAX_PARAM_LENGTH])
        client.set_terminated(run_id, status)

    with_room(uri, write)
