"""The Hydra structured-config schemas of the commands' configs, built from the library's typed settings.

Registered in Hydra's ConfigStore and named first in each command's defaults list (`conf/train.yaml`, ...), so that
Hydra refuses a value of the wrong type naming its key (`num_epochs=2.0`), and refuses unknown keys, `+` included.
The groups are the library's own dataclasses. Every setting's default is declared once, here or in the library's
dataclass, and documented on its line (`--help` prints these comments: cli/settings_help.py); the yaml files state
only what differs (tests/cli/test_config_defaults.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from siren_inr.analysis.pipeline import Selection
from siren_inr.cli.groups import INR_CODEC_DEFAULTS_GROUP, MODEL_DEFAULTS_GROUP
from siren_inr.compression.classical import CLASSICAL_CODECS
from siren_inr.compression.network.codecs import COIN_DEFAULTS, COIN_NETWORKS
from siren_inr.compression.registry import inr_codecs
from siren_inr.data.image import DEFAULT_MAX_PIXELS
from siren_inr.data.settings import DataSpec
from siren_inr.fit.settings import FitSettings, OptimSettings, TrainerSettings
from siren_inr.jobs.compress import CompressJob
from siren_inr.jobs.rd import RDSettings
from siren_inr.jobs.sweep import OptunaSearch
from siren_inr.jobs.train import TrainJob
from siren_inr.models import default_hparams, list_models
from siren_inr.tracking.settings import TrackingSettings


@dataclass
class TrainConfig:
    """`siren-inr train`: one fit."""

    model: Any = None  # the network: registry name (conf/model/<name>.yaml) and hyperparameters
    data: DataSpec = field(default_factory=DataSpec)
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    hparams_search: OptunaSearch | None = None  # an Optuna search: -m hparams_search=siren_optuna
    seed: int = 0  # seeds torch/numpy/python before the network is built: same seed, same numbers
    num_epochs: int = 100  # one epoch = one pass over all pixels (full batch: one step)
    # full-image PSNR/SSIM and a history row every this many steps (old steps_til_summary); None: about 100 rows
    # over the fit, whatever its length
    log_every_n_steps: int | None = FitSettings.log_every_n_steps
    # also keep checkpoints/epochNNNNNN.ckpt every this many epochs (None: only last.ckpt)
    epochs_til_ckpt: int | None = FitSettings.epochs_til_ckpt
    # refresh checkpoints/last.ckpt this often (what a killed fit resumes from)
    last_ckpt_every_n_epochs: int = FitSettings.last_ckpt_every_n_epochs
    ckpt_path: str | None = None  # a checkpoint file: resume training from it, or with evaluate=true, evaluate it
    resume: str | None = None  # a run id: continue that killed run from its last checkpoint, in the same MLflow run
    evaluate: bool = False  # true: no training, evaluate ckpt_path and record the images and final metrics
    experiment_name: str = TrainJob.experiment_name  # MLflow experiment the run goes into
    run_name: str | None = None  # MLflow run name (None: the overrides, or the model name)
    progress: str = FitSettings.progress  # auto (a bar on a terminal, plain lines otherwise), bar, lines, none
    show: bool = False  # also open the comparison figure in a window at the end (needs a display)
    debug: bool = False  # print full tracebacks instead of one-line errors


@dataclass
class CodecFitConfig:
    """What `compress` and `rd` share: the network, its fit, and how its weights are stored (COIN's recipe)."""

    model: Any = None  # the network: registry name (conf/model/<name>.yaml) and hyperparameters
    trainer: TrainerSettings = field(default_factory=TrainerSettings)
    optim: OptimSettings = field(default_factory=lambda: OptimSettings(lr=COIN_DEFAULTS.lr))  # COIN's learning rate
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    inr_codec: Any = None  # the INR codec's own settings (conf/inr_codec/<name>.yaml), checked by the codec registry
    seed: int = COIN_DEFAULTS.seed  # seeds the network init (same seed, same file)
    num_epochs: int = COIN_DEFAULTS.steps  # full-batch fit steps (COIN used 50000 on a GPU)
    # quant: how the weights are stored, QuantSettings' fields (compression/quantize.py documents them); Any, since
    # QuantSettings is frozen: it checks its own values when built
    quant: Any = field(default_factory=lambda: asdict(COIN_DEFAULTS.quant))
    coder: str = COIN_DEFAULTS.coder  # auto (the smallest), raw, zlib, lzma, range, range-tensor, range-gauss
    qat_steps: int = COIN_DEFAULTS.qat.steps  # quantization-aware fine-tuning steps after the fit (0 = off)
    qat_lr: float = COIN_DEFAULTS.qat.lr  # its learning rate
    qat_eval_every: int = COIN_DEFAULTS.qat.eval_every  # score the quantized network this often; the best is kept
    track: bool = True  # record in MLflow
    experiment_name: str = CompressJob.experiment_name  # MLflow experiment
    debug: bool = False  # full tracebacks instead of one-line errors


@dataclass
class CompressConfig(CodecFitConfig):
    """`siren-inr compress` / `decompress`."""

    sidelength: int | None = None  # resize (shorter edge) and centre-crop to a square first; None: the image as it is
    max_pixels: int = DEFAULT_MAX_PIXELS  # images with more pixels are refused before they are decoded (also original=)
    run_id: str | None = None  # take the weights of this tracked fit (its checkpoints/last.ckpt) instead of fitting
    log_every_n_steps: int | None = 25  # tracked fits: full-image PSNR/SSIM and a history row every this many steps
    original: str | None = None  # decompress: the original image, to print PSNR/SSIM against it
    overwrite: bool = False  # replace an existing OUT file (never one of the inputs); false = refuse


@dataclass
class RDData:
    """`data` of `siren-inr rd`: which images."""

    folder: str = MISSING  # folder of images (required), e.g. path/to/kodak
    images: list[str] | None = None  # file names inside the folder (None: all, sorted)
    max_images: int | None = None  # only the first N images
    crop: int | None = None  # centre crop of crop x crop pixels per image (None: full images)


@dataclass
class RDConfig(CodecFitConfig):
    """`siren-inr rd`: the INR codecs against the classical ones on a folder of images."""

    data: RDData = field(default_factory=RDData)
    # ladder: [hidden layers, width] per rate point of coin, COIN's networks (RGB out). COIN names them 5x20, 5x30,
    # 10x28, 10x40, 13x49, counting the first sine layer; hidden_layers counts the layers after it, so the same
    # networks (1803 ... 29697 parameters; fp16 bpp 0.073 ... 1.208 on 768x512 as published) are 4x20 ... 12x49
    ladder: list[list[int]] = field(default_factory=lambda: list(COIN_NETWORKS))
    # codecs: the classical codecs (jpeg, jpeg2000, webp, avif, jxl, heic), each swept over its setting (quality;
    # jpeg2000: compression ratio; jxl: distance) from its smallest file past the INR rates
    codecs: list[str] = field(default_factory=lambda: list(CLASSICAL_CODECS))
    inr_codecs: list[str] = field(default_factory=lambda: ["coin"])  # INR codecs compared, e.g. [coin,siren_pe,latent]
    # inr_settings: per INR codec but coin, settings of all its points, over num_epochs (its steps) and its defaults,
    # e.g. {latent: {preset: mop, train: {steps: 1500}}, siren_pe: {num_frequencies: 6}}. Any, so that a whole
    # mapping can be given on the command line; RDSettings checks it.
    inr_settings: Any = None
    # inr_ladders: per INR codec but coin, its points, each a mapping of overrides, e.g.
    # {latent: [{train: {lam: 0.01}}, {train: {lam: 0.002}}]} (missing: 4 lambdas / 4 widths)
    inr_ladders: Any = None
    # batch_images: fit the same-size images of a ladder point in one batched network (= separate fits);
    # None: on a GPU, and on a CPU with trainer.tiled_step (experiments/benchmark/rd_batched.py)
    batch_images: bool | None = None
    batch_memory_mb: int = RDSettings.batch_memory_mb  # memory one batched step may use; more images are chunked
    bd_method: str = RDSettings.bd_method  # BD interpolation: akima, pchip, cubic
    output_dir: str = RDSettings.output_dir  # report folder: table.csv/.md, mean_curves.csv, bd.csv, plots/, report.md
    # reference_dir: folder of published curves (*.json) to overlay, e.g. path/to/reference/kodak; on full Kodak
    # images, files with per-image curves (Cool-chic) compared per image: reference_bd.csv
    reference_dir: str | None = None
    experiment_name: str = "siren-inr-rd"  # MLflow experiment (a parent run, a child per image and point)


@dataclass
class AnalyzeConfig:
    """`siren-inr analyze`: which tracked runs to read back from MLflow, and where the report goes. Select with runs=,
    sweep= or filter= (each may be narrowed by experiment_name=), or with experiment_name= alone (every run of it);
    with no selection at all, the latest run of the default experiment."""

    experiment_name: str | None = None  # MLflow experiment to read; null = the one `siren-inr train` logs to
    runs: list[str] = field(default_factory=list)  # run ids, e.g. runs=[3f2a...,9b1c...]; runs of any experiment
    sweep: str | None = None  # sweep id (the `sweep_id` tag shared by the runs of one multirun)
    # filter: an MLflow search filter, e.g. filter="params.`model.name` = 'siren'" or "tags.model = 'relu'"
    filter: str | None = None
    max_runs: int = Selection.max_runs  # at most this many runs (newest first) from one search
    out: str = "analysis"  # output folder for report.md, tables and figures (created; files in it are replaced)
    title: str | None = None  # heading of report.md; null = one made from the selection
    # log_to_mlflow: per-run results under each run's analysis/, the comparison as an analysis run of its own
    log_to_mlflow: bool = True
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    debug: bool = False  # print tracebacks instead of one-line error messages


SCHEMAS = {"train_schema": TrainConfig, "compress_schema": CompressConfig, "rd_schema": RDConfig,
           "analyze_schema": AnalyzeConfig}


def register_schemas() -> None:
    """Put the schemas, and every model family's defaults, where the configs' defaults lists find them
    (idempotent)."""
    store = ConfigStore.instance()
    for name, node in SCHEMAS.items():
        store.store(name=name, node=node)
    # conf/model/<name>.yaml starts from /model_defaults/<name>: the family's registry name and its constructor's
    # keyword defaults, declared (and documented) once, in siren_inr/models/.
    for name in list_models():
        store.store(group=MODEL_DEFAULTS_GROUP, name=name, node={"name": name, **default_hparams(name)})
    # conf/inr_codec/<name>.yaml starts from /inr_codec_defaults/<name>: the codec's settings dataclass with its
    # registered defaults (compression/registry.py).
    for entry in inr_codecs():
        node = {"name": entry.name, **asdict(entry.defaults)}
        store.store(group=INR_CODEC_DEFAULTS_GROUP, name=entry.name, node=node)
