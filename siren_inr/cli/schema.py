"""The Hydra structured-config schemas of the commands' configs, built from the library's typed settings.

Registered in Hydra's ConfigStore and named first in each command's defaults list (`conf/train.yaml`, ...), so that
Hydra refuses a value of the wrong type naming its key (`num_epochs=2.0`), and refuses unknown keys, `+` included.
The groups are the library's own dataclasses; only the shape of the whole config tree is declared here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from siren_inr.data.image import DEFAULT_MAX_PIXELS
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


@dataclass
class CodecFitConfig:
    """What `compress` and `rd` share: the network, its fit, and how its weights are stored."""

    model: Any = None  # the family's hyperparameters (conf/model/<name>.yaml)
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    inr_codec: Any = None  # the INR codec's own settings (conf/inr_codec/), checked by the codec registry
    seed: int = 0
    num_epochs: int = 2000
    quant: Any = None  # QuantSettings' fields; a frozen dataclass, so it checks its own values when built
    coder: str = "auto"
    qat_steps: int = 300
    qat_lr: float = 1e-5
    qat_eval_every: int = 25
    track: bool = True
    experiment_name: str = "siren-inr-compress"
    debug: bool = False


@dataclass
class CompressConfig(CodecFitConfig):
    """`siren-inr compress` / `decompress` (conf/compress.yaml documents every key)."""

    sidelength: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    run_id: str | None = None
    log_every_n_steps: int | None = 25
    original: str | None = None
    overwrite: bool = False


@dataclass
class RDData:
    """`data` of `siren-inr rd`: which images."""

    folder: str = MISSING  # folder of images (required)
    images: list[str] | None = None  # file names inside the folder (None: all, sorted)
    max_images: int | None = None  # only the first N images
    crop: int | None = None  # centre crop of crop x crop pixels (None: full images)


@dataclass
class RDConfig(CodecFitConfig):
    """`siren-inr rd` (conf/rd.yaml documents every key)."""

    data: RDData = field(default_factory=RDData)
    ladder: list[list[int]] = field(default_factory=list)
    codecs: list[str] = field(default_factory=list)
    inr_codecs: list[str] = field(default_factory=lambda: ["coin"])
    # Per INR codec: settings of all its points, and its points (lists of overrides); Any so that a whole mapping
    # can be given on the command line (inr_settings={latent: {preset: mop}}); RDSettings checks them.
    inr_settings: Any = None
    inr_ladders: Any = None
    batch_images: bool | None = None  # None: batched on a GPU only
    batch_memory_mb: int = 2048
    bd_method: str = "akima"
    output_dir: str = "rd_report"
    reference_dir: str | None = None
    experiment_name: str = "siren-inr-rd"


SCHEMAS = {"train_schema": TrainConfig, "compress_schema": CompressConfig, "rd_schema": RDConfig}


def register_schemas() -> None:
    """Put the schemas where the configs' defaults lists find them (idempotent)."""
    store = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        store.store(name=name, node=node)
