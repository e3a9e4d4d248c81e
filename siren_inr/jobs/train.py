"""A tracked fit: validate, load, open the run, fit or evaluate, write and log every artifact."""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from siren_inr.data import PixelField, load_image
from siren_inr.data.settings import DataSpec
from siren_inr.errors import SirenInrError
from siren_inr.analysis.run_figures import write_run_outputs
from siren_inr.fit.settings import FitSettings
from siren_inr.fit.trainer import FitResult, evaluate, fit_module, load_module
from siren_inr.fit.module import INRFitModule
from siren_inr.fit.memory import check_memory
from siren_inr.models import build_model, hparams_for_image, model_spec
from siren_inr.models.registry import accepted_hparams
from siren_inr.names import (CHECKPOINT_DIR_TAG, CHECKPOINTS_FOLDER, CKPT_PATH_TAG, CONFIG_FILE, CONFIG_FOLDER,
                             DEVICE_TAG, FINAL_PREFIX, FINAL_SECONDS, FINAL_STEPS, HISTORY_FOLDER, IMAGE_TAG,
                             IMAGES_FOLDER, MODE_TAG, MODEL_TAG, NOTE_TAG, NUM_PARAMS_TAG, OUTPUT_DIR_TAG,
                             OVERRIDES_FILE, PLOTS_FOLDER, RESUMED_FROM_TAG, SEED_TAG)
from siren_inr.seeding import checked_seed, seed_all
from siren_inr.tracking.provenance import provenance_tags
from siren_inr.tracking.run import flatten, tracked_run
from siren_inr.tracking.store import artifact_root_for, checked_experiment_name, ensure_store, resolve_tracking_uri

@dataclass
class TrainJob:
    """Everything one tracked fit needs, as plain values (the CLI builds it from the Hydra config)."""

    model_name: str
    model_hparams: dict
    data: DataSpec
    fit: FitSettings
    seed: int = 0
    experiment_name: str = "siren-inr"
    tracking_uri: str | None = None
    run_name: str | None = None
    ckpt_path: str | None = None  # resume training from it, or (with evaluate) evaluate it
    evaluate_only: bool = False
    output_dir: Path = Path("outputs")
    config: dict = dc_field(default_factory=dict)  # resolved config: params + config/config.yaml
    overrides: list[str] = dc_field(default_factory=list)
    tags: dict[str, Any] = dc_field(default_factory=dict)
    resume_run_id: str | None = None  # continue this run (same MLflow run) from ckpt_path
    keeps_output_dir: bool = True  # False: output_dir is a temporary folder (compress), so no tag points at it

    def validate(self) -> "TrainJob":
        """Check every value that can be checked before an image is loaded or a store or folder is created."""
        self.fit.validate()
        self.data.validate()
        checked_seed(self.seed)
        checked_experiment_name(self.experiment_name)
        accepted_hparams(self.model_name)  # an unknown family: one line naming the accepted ones
        if self.evaluate_only and not self.ckpt_path:
            raise SirenInrError("evaluate=true needs ckpt_path=<checkpoint file> to evaluate")
        if self.ckpt_path and not Path(self.ckpt_path).is_file():
            raise SirenInrError(f"ckpt_path={self.ckpt_path!r}: no such checkpoint file")
        return self


@dataclass
class JobResult:
    """What a tracked fit produced."""

    run_id: str | None
    final: dict[str, float]
    history: list[dict]
    output_dir: Path
    tracking_uri: str
    fit: FitResult | None = None


def _write_config(folder: Path, config: dict, overrides: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / OVERRIDES_FILE).write_text(yaml.safe_dump(list(overrides)))
    return folder


def load_job_image(job: TrainJob) -> np.ndarray:
    """The job's image, after every check that can refuse it (memory for the requested size, the file itself)."""
    settings = job.validate().fit
    if job.data.sidelength is not None:
        # Checked before loading: resizing to an impossible size would itself exhaust memory.
        side = job.data.sidelength
        probe = build_model(job.model_name, **hparams_for_image(job.model_name, job.model_hparams, side, side,
                                                                    int(job.model_hparams.get("out_features") or 3)))
        check_memory(side * side, 3, probe, job.data.batch_size, settings.device(), f"data.sidelength={side}")
    return load_image(job.data.image, job.data.sidelength, job.data.max_pixels)


def fit_note(model: str, image: str, width: int, height: int, final: dict, fitted, num_params: int) -> str:
    """A fit's one-line description: what was fitted and what it reached."""
    text = f"{model} ({num_params:,} weights) on {Path(str(image)).name} {width}x{height}: "
    text += f"PSNR {final['psnr']:.2f} dB, SSIM {final['ssim']:.4f}"
    if fitted is not None:
        text += f" after {fitted.global_step} steps in {fitted.seconds:.1f} s"
    return text


def run_train_job(job: TrainJob) -> JobResult:
    """Validate every input, then fit (or evaluate) one network as one MLflow run."""
    image = load_job_image(job)
    settings = job.fit
    device = settings.device()
    height, width, channels = image.shape
    field = PixelField.from_image(image)
    hparams = hparams_for_image(job.model_name, job.model_hparams, height, width, channels)

    seed_all(job.seed)
    if job.evaluate_only or job.ckpt_path:
        module = _module_from_checkpoint(job.ckpt_path, field)
        module.settings = settings
    else:
        module = INRFitModule(job.model_name, hparams, settings.as_dict(), field)
    check_memory(field.num_pixels, channels, module.net, settings.batch_size, device,
                 f"data.image={job.data.image!r} at {width}x{height}")

    uri = resolve_tracking_uri(job.tracking_uri)
    output_dir = Path(job.output_dir)
    name, resolved_hparams = model_spec(module.net)
    config = dict(job.config)
    config.setdefault("model", {}).update({"name": name, **resolved_hparams})
    if not rank_zero_only.rank == 0:
        # DDP worker processes fit their shard; only global rank 0 tracks.
        fitted = fit_module(module, field, settings, ckpt_path=None if job.evaluate_only else job.ckpt_path,
                            checkpoint_dir=output_dir / CHECKPOINTS_FOLDER, default_root_dir=output_dir)
        return JobResult(None, fitted.final, fitted.history, output_dir, uri, fitted)

    ensure_store(uri)
    tags = {**provenance_tags(device), MODEL_TAG: name, IMAGE_TAG: job.data.image, SEED_TAG: job.seed,
            MODE_TAG: "evaluate" if job.evaluate_only else "train", **job.tags}
    if job.ckpt_path:
        tags[CKPT_PATH_TAG] = str(Path(job.ckpt_path).resolve())
    if job.keeps_output_dir:  # where a killed fit's checkpoint lies: what `resume=<run_id>` looks for
        tags[OUTPUT_DIR_TAG] = str(output_dir.resolve())
        tags[CHECKPOINT_DIR_TAG] = str((output_dir / CHECKPOINTS_FOLDER).resolve())
    resuming = job.resume_run_id is not None
    # A resumed run keeps its params (MLflow refuses to change them) and gets no second copy of its points.
    with tracked_run(uri, job.experiment_name, run_name=job.run_name or name, tags=tags,
                     params=None if resuming else flatten(config), artifact_location=artifact_root_for(uri),
                     run_id=job.resume_run_id) as run:
        config_dir = _write_config(output_dir / CONFIG_FOLDER, config, job.overrides)
        run.log_artifacts(config_dir, CONFIG_FOLDER)
        if job.evaluate_only:
            prediction, final = evaluate(module)
            history, fitted = list(module.history), None
        else:
            logger = run.lightning_logger()
            if resuming:
                from siren_inr.tracking.resume import ResumedRunLogger, checkpoint_step

                logger = ResumedRunLogger(uri, run.run_id, job.experiment_name)
                resumed_from = checkpoint_step(job.ckpt_path)
                backfilled = logger.backfill(module.history)
                run.set_tags({RESUMED_FROM_TAG: resumed_from})
            fitted = fit_module(module, field, settings, loggers=[logger],
                                checkpoint_dir=output_dir / CHECKPOINTS_FOLDER, ckpt_path=job.ckpt_path,
                                default_root_dir=output_dir)
            prediction, final, history = fitted.prediction, fitted.final, fitted.history
            run.log_metrics({FINAL_SECONDS: fitted.seconds, FINAL_STEPS: fitted.global_step})
            if resuming:
                from siren_inr.tracking.resume import resume_report

                run.log_metrics(resume_report(logger, backfilled), step=resumed_from)
        run.log_metrics({f"{FINAL_PREFIX}{key}": value for key, value in final.items()})
        num_params = sum(p.numel() for p in module.net.parameters())
        run.set_tags({DEVICE_TAG: str(module.device), NUM_PARAMS_TAG: num_params,
                      NOTE_TAG: fit_note(name, job.data.image, width, height, final, fitted, num_params)})
        title = f"{name} on {job.data.image} ({width}x{height})"
        write_run_outputs(output_dir, field.image(), prediction, history, final, title)
        for folder in (IMAGES_FOLDER, HISTORY_FOLDER, PLOTS_FOLDER, CHECKPOINTS_FOLDER):
            if (output_dir / folder).is_dir() and any((output_dir / folder).iterdir()):
                run.log_artifacts(output_dir / folder, folder)
        run_id = run.run_id
    return JobResult(run_id, final, history, output_dir, uri, fitted)


def _module_from_checkpoint(ckpt_path: str, field: PixelField) -> INRFitModule:
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        recorded = checkpoint["hyper_parameters"]["model_hparams"]
    except Exception as err:  # unpickling errors come in many types
        raise SirenInrError(f"ckpt_path={ckpt_path!r} is not a siren-inr checkpoint ({type(err).__name__})") from None
    if recorded.get("out_features") not in (None, field.channels):
        raise SirenInrError(f"ckpt_path={ckpt_path!r} was fitted to {recorded['out_features']}-channel images but "
                            f"data.image has {field.channels} channel(s); use the image it was fitted to")
    return load_module(checkpoint, field)
