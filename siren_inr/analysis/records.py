"""A tracked run as the analysis sees it, and the settings that tell runs apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from siren_inr.names import MODEL_TAG

# Params that describe where or how a run was recorded, not what was fitted: two runs that differ only
# in these are the same experiment, so they never appear as "settings that differ".
IGNORED_SETTING_PREFIXES = ("tracking.", "hydra.", "paths.", "analysis.")
IGNORED_SETTINGS = frozenset({"out", "debug", "run_name", "experiment_name", "trainer.enable_progress_bar",
                              "trainer.accelerator", "trainer.devices", "accelerator", "devices"})
SEED_KEYS = frozenset({"seed", "trainer.seed", "fit.seed"})


@dataclass
class RunRecord:
    """Everything the analysis needs from one finished fit, read back from the tracking store."""

    run_id: str
    run_name: str = ""
    experiment_name: str = ""
    status: str = "FINISHED"
    params: dict[str, str] = field(default_factory=dict)
    final_metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    history: pd.DataFrame | None = None  # columns epoch, train_loss, train_psnr, train_ssim
    steps: int | None = None
    num_parameters: int | None = None
    ground_truth: np.ndarray | None = None  # uint8 [H, W, C]
    prediction: np.ndarray | None = None  # uint8 [H, W, C]

    @property
    def wall_seconds(self) -> float | None:
        """Run duration from the tracking store's start and end times."""
        if self.start_time_ms is None or self.end_time_ms is None:
            return None
        return (self.end_time_ms - self.start_time_ms) / 1000.0

    @property
    def short_id(self) -> str:
        """The first 8 characters of the run id, enough to tell runs apart in a table."""
        return self.run_id[:8]

    @property
    def model_name(self) -> str:
        """The registry name of the fitted network."""
        return self.params.get("model.name") or self.tags.get(MODEL_TAG, "")


def is_seed_key(key: str) -> bool:
    """Whether a flattened setting is a random seed (grouping across seeds ignores it)."""
    return key in SEED_KEYS or key.endswith(".seed")


def _ignored(key: str) -> bool:
    return key in IGNORED_SETTINGS or key.startswith(IGNORED_SETTING_PREFIXES)


def differing_settings(records: list[RunRecord]) -> list[str]:
    """Flattened setting keys whose values are not the same in every run (a missing key counts as a value).

    A key that some runs lack and whose value follows from the keys already chosen (a family-specific
    hyperparameter such as `model.first_omega_0` beside `model.name`) is left out: it adds a column, not a
    distinction.
    """
    if len(records) < 2:
        return []
    keys = sorted({k for r in records for k in r.params if not _ignored(k)})
    candidates = [k for k in keys if len({r.params.get(k) for r in records}) > 1]
    # Model name first, seed last: the order a reader scans a comparison in.
    candidates.sort(key=lambda k: (k != "model.name", is_seed_key(k), k))
    chosen: list[str] = []
    for key in candidates:
        partial = any(key not in r.params for r in records)
        if partial and chosen and _determined_by(records, chosen, key):
            continue
        chosen.append(key)
    return chosen


def _determined_by(records: list[RunRecord], keys: list[str], key: str) -> bool:
    values: dict[tuple, set] = {}
    for record in records:
        values.setdefault(tuple(record.params.get(k) for k in keys), set()).add(record.params.get(key))
    return all(len(v) == 1 for v in values.values())


def short_setting_names(keys: list[str]) -> dict[str, str]:
    """Readable column names: the last part of each dotted key (`model.name` -> `model`), full key if ambiguous."""
    def short(key: str) -> str:
        parts = key.split(".")
        if len(parts) > 1 and parts[-1] == "name":
            return parts[-2]
        return parts[-1]

    names = {k: short(k) for k in keys}
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {k: (v if counts[v] == 1 else k) for k, v in names.items()}


def run_label(record: RunRecord, keys: list[str], names: dict[str, str] | None = None) -> str:
    """A label built from the given settings, e.g. `model=siren seed=1`; the run name when none differ."""
    if not keys:
        return record.run_name or record.short_id
    names = names or short_setting_names(keys)
    return " ".join(f"{names[k]}={record.params.get(k, '-')}" for k in keys)


def format_value(value: Any, digits: int = 4) -> str:
    """A table cell: floats to a fixed number of significant digits, missing values as a dash."""
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "-"
        return f"{value:.{digits}g}"
    return str(value)
