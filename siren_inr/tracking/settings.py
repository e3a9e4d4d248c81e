"""The `tracking` group: where runs are recorded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrackingSettings:
    """`tracking` (also the Hydra schema of `conf/tracking/`)."""

    uri: str | None = None  # None: SQLite store ./mlruns/mlflow.db in the working directory; or http://host:port
