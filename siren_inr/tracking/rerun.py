"""Reruns: read back what a run recorded, warn where the environment differs, compare the rerun with it."""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import yaml

from siren_inr.errors import SirenInrError
from siren_inr.names import (CONFIG_FILE, CONFIG_FOLDER, FINAL_METRICS, FINAL_PSNR, GIT_COMMIT_TAG, GIT_DIRTY_TAG,
                             HISTORY_METRICS, OVERRIDES_FILE, RERUN_DIFF_PREFIX, RERUN_FINAL_MATCH_TAG,
                             RERUN_HISTORY_MATCH_TAG, RERUN_MATCH_TAG, RERUN_MODE_TAG, RERUN_PROBLEMS_TAG,
                             RERUN_WARNINGS_TAG, VERSIONS_TAG_PREFIX)
from siren_inr.tracking.provenance import git_state, package_versions
from siren_inr.tracking.run import _client, is_fit, run_kind
from siren_inr.tracking.store import sqlite_path

HISTORY_KEYS = HISTORY_METRICS
FINAL_KEYS = FINAL_METRICS


@dataclass
class FitRecord:
    """What a tracked fit recorded about itself: enough to fit it again."""

    run_id: str
    run_name: str
    experiment_name: str
    status: str
    config: dict
    overrides: list[str]
    tags: dict[str, str]


def load_run_record(uri: str, run_id: str) -> FitRecord:
    """Fetch a run's resolved config, overrides and tags from the store; SirenInrError when it cannot be redone."""
    from mlflow.exceptions import MlflowException

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm bar for two small files
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise SirenInrError(f"run {run_id!r} is not in the store {uri}: there is no store there; give "
                            "tracking.uri=<the store it was recorded in>")
    client = _client(uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise SirenInrError(f"run {run_id!r} is not in the store {uri}; give tracking.uri=<the store it was "
                            "recorded in>") from None
    if not is_fit(run.data.tags):
        raise SirenInrError(f"run {run_id!r} is a {run_kind(run.data.tags)} run, not a fit; only fits can be rerun "
                            "or resumed (a sweep's or a study's own fits can)")
    with tempfile.TemporaryDirectory(prefix="siren-inr-rerun-") as tmp:
        try:
            folder = Path(client.download_artifacts(run_id, CONFIG_FOLDER, tmp))
        except (MlflowException, OSError):
            raise SirenInrError(f"run {run_id!r} has no {CONFIG_FOLDER}/ artifacts ({CONFIG_FILE}, {OVERRIDES_FILE}); "
                                "only runs recorded by siren-inr train can be rerun") from None
        config_file, overrides_file = folder / CONFIG_FILE, folder / OVERRIDES_FILE
        config = yaml.safe_load(config_file.read_text()) if config_file.is_file() else None
        overrides = (yaml.safe_load(overrides_file.read_text()) or [] if overrides_file.is_file() else [])
    if not isinstance(config, dict) or "model" not in config:
        raise SirenInrError(f"run {run_id!r}: {CONFIG_FOLDER}/{CONFIG_FILE} is missing or is not a siren-inr train "
                            "config")
    experiment = client.get_experiment(run.info.experiment_id)
    return FitRecord(run_id, run.info.run_name or "", experiment.name, run.info.status, config, list(overrides),
                     dict(run.data.tags))


def environment_warnings(tags: dict[str, str]) -> list[str]:
    """Differences between the recorded code/packages and this installation (a rerun may then differ)."""
    warnings = []
    versions = package_versions()
    changed = [f"{name} {tags[VERSIONS_TAG_PREFIX + name]} -> {now}" for name, now in versions.items()
               if tags.get(VERSIONS_TAG_PREFIX + name, now) != now]
    if changed:
        warnings.append("the run was recorded with other package versions: " + ", ".join(changed))
    commit, _ = git_state()
    recorded = tags.get(GIT_COMMIT_TAG)
    if recorded and recorded != "unknown" and commit != "unknown" and recorded != commit:
        warnings.append(f"the run was recorded at git commit {recorded[:12]}, this checkout is at {commit[:12]}")
    if tags.get(GIT_DIRTY_TAG) == "true":
        warnings.append("the run was recorded from a git tree with uncommitted changes; the code it ran may "
                        "not exist any more")
    return warnings


@dataclass
class Comparison:
    """How a rerun's metric history and final metrics compare with the original's."""

    exact: bool  # bit-for-bit required (CPU, deterministic) or a tolerance
    history_match: bool
    final_match: bool
    points: int  # metric points compared
    max_abs_diff: dict[str, float] = dc_field(default_factory=dict)  # per metric key
    problems: list[str] = dc_field(default_factory=list)

    @property
    def match(self) -> bool:
        """History and final metrics both match."""
        return self.history_match and self.final_match


@dataclass
class Tolerance:
    """What 'matches' means off the bit-exact path (GPU, non-deterministic kernels)."""

    psnr_db: float = 0.05  # |Δ PSNR| for train/psnr and final/psnr
    rtol: float = 1e-3  # relative difference for loss, SSIM, MSE
    atol: float = 1e-6


def _close(key: str, a: float, b: float, exact: bool, tol: Tolerance) -> bool:
    if exact:
        return a == b or (math.isnan(a) and math.isnan(b))
    if key.endswith("psnr"):
        return abs(a - b) <= tol.psnr_db
    return abs(a - b) <= tol.atol + tol.rtol * abs(b)


def compare_runs(uri: str, original_id: str, rerun_id: str, exact: bool, tol: Tolerance | None = None) -> Comparison:
    """Compare the metric histories (same steps, same values) and the final metrics of two runs."""
    tol = tol or Tolerance()
    client = _client(uri)
    original, rerun = client.get_run(original_id), client.get_run(rerun_id)
    result = Comparison(exact=exact, history_match=True, final_match=True, points=0)
    for key in HISTORY_KEYS:
        a = sorted((m.step, m.value) for m in client.get_metric_history(original_id, key))
        b = sorted((m.step, m.value) for m in client.get_metric_history(rerun_id, key))
        if [s for s, _ in a] != [s for s, _ in b]:
            result.history_match = False
            result.problems.append(f"{key}: steps differ ({len(a)} points recorded, {len(b)} in the rerun)")
            continue
        diffs = [abs(x - y) for (_, x), (_, y) in zip(a, b)]
        result.points += len(a)
        result.max_abs_diff[key] = max(diffs, default=0.0)
        bad = [s for (s, x), (_, y) in zip(a, b) if not _close(key, x, y, exact, tol)]
        if bad:
            result.history_match = False
            result.problems.append(f"{key}: {len(bad)} of {len(a)} points differ (first at step {bad[0]}, "
                                   f"max |diff| {result.max_abs_diff[key]:.3g})")
    for key in FINAL_KEYS:
        x, y = original.data.metrics.get(key), rerun.data.metrics.get(key)
        if x is None or y is None:
            result.final_match = False
            result.problems.append(f"{key}: missing in the {'original' if x is None else 'rerun'}")
            continue
        result.max_abs_diff[key] = abs(x - y)
        if not _close(key, x, y, exact, tol):
            result.final_match = False
            result.problems.append(f"{key}: {x:.6g} recorded, {y:.6g} in the rerun")
    return result


def record_comparison(uri: str, rerun_id: str, comparison: Comparison, warnings: list[str]) -> None:
    """Store the verdict on the rerun: tags rerun_match / rerun_history_match / rerun_final_match, diff metrics."""
    from mlflow.entities import Metric, RunTag

    verdict = ("exact" if comparison.exact else "within_tolerance") if comparison.match else "differs"
    tags = {RERUN_MATCH_TAG: verdict, RERUN_HISTORY_MATCH_TAG: str(comparison.history_match).lower(),
            RERUN_FINAL_MATCH_TAG: str(comparison.final_match).lower(),
            RERUN_MODE_TAG: "bit_for_bit" if comparison.exact else "tolerance"}
    if comparison.problems:
        tags[RERUN_PROBLEMS_TAG] = " | ".join(comparison.problems)[:5000]
    if warnings:
        tags[RERUN_WARNINGS_TAG] = " | ".join(warnings)[:5000]
    stamp = int(time.time() * 1000)
    metrics = [Metric(f"{RERUN_DIFF_PREFIX}{key}", value, stamp, 0) for key, value in comparison.max_abs_diff.items()]
    _client(uri).log_batch(rerun_id, metrics=metrics, tags=[RunTag(k, v) for k, v in tags.items()], synchronous=True)


def recorded_final_psnr(uri: str, run_id: str) -> float:
    """The final PSNR a run recorded (nan when it has none)."""
    return _client(uri).get_run(run_id).data.metrics.get(FINAL_PSNR, float("nan"))
