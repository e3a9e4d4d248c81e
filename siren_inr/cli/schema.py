"""The Hydra structured-config schemas of the commands' configs, built from the library's typed settings.

Registered in Hydra's ConfigStore and named first in each command's defaults list (`conf/train.yaml`, ...), so that
Hydra refuses a value of the wrong type naming its key (`num_epochs=2.0`), and refuses unknown keys, `+` included.
The groups are the library's own dataclasses; only the shape of the whole config tree is declared here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from siren_inr.data.settings import DataSpec
from siren_inr.fit.settings import OptimSettings, TrainerSettings
from siren_inr.jobs.sweep import OptunaSearch
from siren_inr.tracking.settings import TrackingSettings


@dataclass
class TrainConfig:
    """`siren-inr train`: one fit (conf/train.yaml documents every key)."""

    model: Any = None  # the family's hyperparameters (conf/model/<name>.yaml); checked by the model registry
    data: DataSpec = field(default_factory=DataSpec)
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    hparams_search: OptunaSearch | None = None  # an Optuna search (conf/hparams_search/)
    seed: int = 0
    num_epochs: int = 500
    log_every_n_steps: int | None = None
    epochs_til_ckpt: int | None = None
    last_ckpt_every_n_epochs: int = 100
    ckpt_path: str | None = None
    resume: str | None = None
    evaluate: bool = False
    experiment_name: str = "siren-inr"
    run_name: str | None = None
    progress: str = "auto"
    show: bool = False
    debug: bool = False


SCHEMAS = {"train_schema": TrainConfig}


def register_schemas() -> None:
    """Put the schemas where the configs' defaults lists find them (idempotent)."""
    store = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        store.store(name=name, node=node)
