"""Resume: continue a killed fit from its last checkpoint inside the same MLflow run, without duplicate points.

MLflow appends metric points and cannot delete them. A killed fit has usually logged a few points after its
last checkpoint; the resumed fit recomputes those steps. Points at steps the run already holds are therefore
not logged again (the recomputed values are compared with them instead: bit-identical on a deterministic CPU
fit), and every later step is logged once. Points the killed process had queued but not written (asynchronous
logging) are filled in from the history saved in the checkpoint, so each history has every step exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from siren_inr.errors import SirenInrError
from siren_inr.names import (CHECKPOINT_DIR_TAG, HISTORY_COLUMNS, LAST_CKPT_NAME, OUTPUT_DIR_TAG,
                             RESUME_BACKFILLED_ROWS, RESUME_OVERLAP_MAX_ABS_DIFF, RESUME_OVERLAP_POINTS, STEP_COLUMN)
from siren_inr.tracking.run import MlflowRunLogger, _client


@dataclass
class ResumePoint:
    """Where a run stopped: its checkpoint, its output folder, and the status it was left in."""

    run_id: str
    checkpoint: Path
    output_dir: Path | None
    status: str


def find_resume_point(uri: str, run_id: str) -> ResumePoint:
    """The last checkpoint of a run that did not finish; SirenInrError when there is nothing to resume."""
    run = _client(uri).get_run(run_id)
    status = run.info.status
    if status == "FINISHED":
        raise SirenInrError(f"resume={run_id}: the run FINISHED; there is nothing to resume (to fit it again "
                            f"use: siren-inr rerun {run_id})")
    folder = run.data.tags.get(CHECKPOINT_DIR_TAG)
    if not folder:
        raise SirenInrError(f"resume={run_id}: the run recorded no checkpoint folder (tag {CHECKPOINT_DIR_TAG})")
    checkpoint = Path(folder) / LAST_CKPT_NAME
    if not checkpoint.is_file():
        raise SirenInrError(f"resume={run_id}: no checkpoint at {checkpoint}; the fit stopped before its first "
                            "checkpoint (written every last_ckpt_every_n_epochs epochs), or that folder is not "
                            "reachable from this machine; fit it again")
    output_dir = run.data.tags.get(OUTPUT_DIR_TAG)
    return ResumePoint(run_id, checkpoint, Path(output_dir) if output_dir else None, status)


class ResumedRunLogger(MlflowRunLogger):
    """MlflowRunLogger for a resumed run: steps the run already holds are compared, not logged a second time."""

    def __init__(self, uri: str, run_id: str, experiment_name: str):
        super().__init__(uri, run_id, experiment_name)
        client = _client(uri)
        keys = list(client.get_run(run_id).data.metrics)
        self.logged = {key: {m.step: m.value for m in client.get_metric_history(run_id, key)} for key in keys}
        self.overlap_points = 0
        self.overlap_max_abs_diff = 0.0

    def backfill(self, history: list[dict]) -> int:
        """Log the checkpoint's history rows the run lacks (points a killed process queued but never wrote)."""
        missing = 0
        for row in history:
            points = {key: row[column] for column, key in HISTORY_COLUMNS.items()
                      if column in row and int(row[STEP_COLUMN]) not in self.logged.get(key, {})}
            if points:
                super().log_metrics(points, int(row[STEP_COLUMN]))
                missing += 1
        return missing

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log the points at steps not yet in the run; measure how far recomputed points are from stored ones."""
        step = int(step or 0)
        fresh = {}
        for key, value in metrics.items():
            stored = self.logged.get(key, {}).get(step)
            if stored is None:
                fresh[key] = value
            else:
                self.overlap_points += 1
                self.overlap_max_abs_diff = max(self.overlap_max_abs_diff, abs(float(value) - stored))
        if fresh:
            super().log_metrics(fresh, step)


def checkpoint_step(checkpoint: str | Path) -> int:
    """The optimizer steps done when a Lightning checkpoint was written."""
    import torch

    return int(torch.load(str(checkpoint), map_location="cpu", weights_only=True).get("global_step", 0))


def resume_report(logger: ResumedRunLogger, backfilled_rows: int) -> dict[str, float]:
    """Metrics that record how the resumed segment joined the killed one (logged at the checkpoint's step)."""
    return {RESUME_BACKFILLED_ROWS: float(backfilled_rows), RESUME_OVERLAP_POINTS: float(logger.overlap_points),
            RESUME_OVERLAP_MAX_ABS_DIFF: float(logger.overlap_max_abs_diff)}
