"""Trainer assembly and fitting with Lightning: fit_module() fits a module (train, evaluate, resume and the bench call
it); fit_model() builds the module first (compress and rd's one-at-a-time points call it). rd's batched points fit
through fit/batched.py and the latent codec through its own loop in compression/latent/."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint
from torch import nn

from siren_inr.fit.datamodule import PixelFieldDataModule
from siren_inr.data.field import PixelField
from siren_inr.fit.callbacks import progress_callbacks
from siren_inr.names import HISTORY_CHECKPOINT_KEY, LAST_CKPT_NAME
from siren_inr.fit.cpu import fit_threads
from siren_inr.fit.module import INRFitModule
from siren_inr.fit.settings import FitSettings
from siren_inr.metrics.quality import mse_tensor, psnr_tensor, ssim_tensor


@dataclass
class FitResult:
    """What a fit produced: the trained module, its history and the final full-image evaluation."""

    module: INRFitModule
    history: list[dict]
    prediction: torch.Tensor  # [H, W, C] in [0, 1], on the CPU
    final: dict[str, float]  # psnr, ssim, mse on [0, 1]
    seconds: float
    device: str
    global_step: int

    @property
    def model(self) -> nn.Module:
        """The trained network."""
        return self.module.net


def quiet_lightning() -> None:
    """Silence Lightning's start-up banners and advice that does not apply to a full-batch pixel fit."""
    for name in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda",
                 "lightning.pytorch.utilities.rank_zero", "lightning_fabric.utilities.seed",
                 "pytorch_lightning.trainer.connectors.checkpoint_connector", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (".*does not have many workers.*", ".*number of training batches.*",
                    ".*LightningModule.*has parameters that were not used.*", ".*isinstance.*LeafSpec.*",
                    ".*`training_step` returned.*", ".*Checkpoint directory.*exists and is not empty.*"):
        warnings.filterwarnings("ignore", message=pattern)


def evaluate(module: INRFitModule) -> tuple[torch.Tensor, dict[str, float]]:
    """Full reconstruction [H, W, C] on the CPU and its psnr/ssim/mse against the field."""
    module.eval()
    pred = module.full_prediction()
    numbers = torch.stack([psnr_tensor(pred, module.gt_nchw), ssim_tensor(pred, module.gt_nchw),
                           mse_tensor(pred, module.gt_nchw)]).tolist()
    image = pred[0].permute(1, 2, 0).cpu()
    return image, dict(zip(("psnr", "ssim", "mse"), numbers))


def build_trainer(settings: FitSettings, *, loggers=(), callbacks=(), checkpoint_dir: Path | None = None,
                  default_root_dir: Path | None = None) -> pl.Trainer:
    """A Lightning Trainer for a pixel fit: no validation loop, our own progress and checkpoints."""
    quiet_lightning()
    torch.set_float32_matmul_precision(settings.matmul_precision)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    cbs = list(callbacks)
    progress = progress_callbacks(settings.progress)
    cbs += progress
    if checkpoint_dir is not None:
        cbs.append(EpochCheckpoint(checkpoint_dir, settings.last_ckpt_every_n_epochs, settings.epochs_til_ckpt))
    strategy = settings.strategy
    return pl.Trainer(
        accelerator=settings.accelerator, devices=settings.devices, num_nodes=settings.num_nodes,
        strategy=strategy, precision=settings.precision, deterministic=settings.deterministic,
        max_epochs=settings.num_epochs, logger=list(loggers) if loggers else False, callbacks=cbs,
        enable_checkpointing=checkpoint_dir is not None, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, use_distributed_sampler=False, log_every_n_steps=1,
        default_root_dir=str(default_root_dir) if default_root_dir else None, benchmark=False,
    )


class EpochCheckpoint(Checkpoint):
    """checkpoint_dir/last.ckpt every `last_every` epochs and at the end (what a killed fit resumes from), and
    epochNNNNNN.ckpt (N = epochs completed) every `keep_every` epochs when set."""

    def __init__(self, checkpoint_dir: Path, last_every: int, keep_every: int | None = None):
        self.folder = Path(checkpoint_dir)
        self.last_every, self.keep_every = last_every, keep_every

    def on_train_epoch_end(self, trainer, pl_module):
        # A Checkpoint subclass runs after the module's own epoch-end hook: the final save holds the closing row.
        epoch = trainer.current_epoch + 1
        if epoch % self.last_every == 0 or epoch >= trainer.max_epochs:
            self._save(trainer, LAST_CKPT_NAME)
        if self.keep_every and epoch % self.keep_every == 0:
            self._save(trainer, f"epoch{epoch:06d}.ckpt")

    def _save(self, trainer, name: str) -> None:
        # Write beside, then rename: a kill mid-write must never leave a truncated checkpoint.
        path = self.folder / name
        tmp = path.with_suffix(".ckpt.tmp")
        trainer.save_checkpoint(str(tmp))
        if trainer.is_global_zero:
            tmp.replace(path)


def fit_model(model_name: str, model_hparams: dict, field: PixelField, settings: FitSettings, *, loggers=(),
              callbacks=(), checkpoint_dir: Path | None = None, ckpt_path: str | None = None,
              default_root_dir: Path | None = None) -> FitResult:
    """Fit a registry network to a pixel field with Lightning; evaluate the full image at the end."""
    settings.validate()
    module = INRFitModule(model_name, model_hparams, settings.as_dict(), field)
    return fit_module(module, field, settings, loggers=loggers, callbacks=callbacks, checkpoint_dir=checkpoint_dir,
                      ckpt_path=ckpt_path, default_root_dir=default_root_dir)


def fit_module(module: INRFitModule, field: PixelField, settings: FitSettings, *, loggers=(), callbacks=(),
               checkpoint_dir: Path | None = None, ckpt_path: str | None = None,
               default_root_dir: Path | None = None) -> FitResult:
    """Fit an already built module (e.g. one holding given weights)."""
    if checkpoint_dir is not None:
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    trainer = build_trainer(settings, loggers=loggers, callbacks=callbacks, checkpoint_dir=checkpoint_dir,
                            default_root_dir=default_root_dir)
    datamodule = PixelFieldDataModule(field, settings.batch_size)
    with fit_threads(settings, settings.batch_size or field.num_pixels, module.net):
        start = time.perf_counter()
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        seconds = time.perf_counter() - start
        image, final = evaluate(module)
    return FitResult(module=module, history=list(module.history), prediction=image, final=final, seconds=seconds,
                     device=str(module.device), global_step=trainer.global_step)


def load_module(checkpoint: str | Path | dict, field: PixelField) -> INRFitModule:
    """Rebuild a fitted module from a checkpoint file or its loaded dict (architecture by registry name)."""
    if not isinstance(checkpoint, dict):
        checkpoint = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    hp = checkpoint["hyper_parameters"]
    module = INRFitModule(hp["model_name"], hp["model_hparams"], hp["settings"], field)
    module.load_state_dict(checkpoint["state_dict"])
    module.history = [dict(row) for row in checkpoint.get(HISTORY_CHECKPOINT_KEY, [])]
    return module


__all__ = ["FitResult", "FitSettings", "fit_model", "fit_module", "evaluate", "load_module"]
