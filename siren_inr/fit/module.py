"""The LightningModule that fits a coordinate network to one pixel field."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

from siren_inr.data.field import PixelField
from siren_inr.data.pixels import signed_to_unit
from siren_inr.fit.settings import FitSettings
from siren_inr.metrics.quality import psnr_tensor, ssim_tensor
from siren_inr.models import build_model
from siren_inr.fit.core import adam_for_fit
from siren_inr.fit.tiled import TiledSirenStep, network_inputs, supports_tiled, tiled_mse
from siren_inr.names import (EPOCH_COLUMN, HISTORY_CHECKPOINT_KEY, LOSS_COLUMN, PSNR_COLUMN, SSIM_COLUMN,
                             STEP_COLUMN, TRAIN_LOSS, TRAIN_PSNR, TRAIN_SSIM)


@torch.no_grad()
def predict_values(net: nn.Module, coords: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """Network output for all coords, evaluated in chunks so peak memory is set by the chunk size."""
    if coords.shape[0] <= chunk_size:
        return net(coords)
    return torch.cat([net(part) for part in torch.split(coords, chunk_size)], dim=0)


FIELD_TENSORS = ("coords", "values", "gt_nchw", "shard_coords", "shard_values")


class INRFitModule(pl.LightningModule):
    """MSE fit of a registry network to a pixel field that lives on the training device."""

    def __init__(self, model_name: str, model_hparams: dict, settings: dict, field: PixelField | None = None):
        super().__init__()
        # Only primitives go into hparams: checkpoints load with weights_only=True.
        self.save_hyperparameters("model_name", "model_hparams", "settings")
        self.settings = FitSettings(**settings)
        self.net = build_model(model_name, **model_hparams)
        self._set_forward(self.net)
        self.history: list[dict] = []
        self.field_shape: tuple[int, int, int] | None = None
        self._perm: torch.Tensor | None = None
        self._tiled: TiledSirenStep | None = None  # when setup() chooses the tiled CPU step
        self._tiled_inputs: torch.Tensor | None = None
        if field is not None:
            self.attach_field(field)

    # --- data -------------------------------------------------------------------------------------
    def attach_field(self, field: PixelField) -> None:
        """Hold the field as rank-local tensors that move to the device once, with the module (see _apply)."""
        self.field_shape = (field.height, field.width, field.channels)
        self.coords = field.coords.contiguous()
        self.values = field.values.contiguous()
        gt = signed_to_unit(field.values).reshape(field.height, field.width, field.channels)
        self.gt_nchw = gt.permute(2, 0, 1)[None].contiguous()

    def _apply(self, fn, recurse: bool = True):
        # The field is data, not state: as buffers DDP would broadcast rank 0's copies to every rank at start
        # (overwriting each rank's own shard, or crashing when shard sizes differ) and again every step.
        # Plain tensor attributes are invisible to DDP; this moves them with .to()/.cuda() like buffers.
        super()._apply(fn, recurse)
        for name in FIELD_TENSORS:
            if isinstance(getattr(self, name, None), torch.Tensor):
                setattr(self, name, fn(getattr(self, name)))
        return self

    def setup(self, stage: str) -> None:
        if self.field_shape is None:
            raise RuntimeError("INRFitModule needs a pixel field: call attach_field() before fitting")
        world, rank = self.trainer.world_size, self.trainer.global_rank
        # Each process fits its own interleaved share of the pixels; DDP averages the gradients.
        shard = torch.arange(rank, self.coords.shape[0], world)
        self.shard_coords = self.coords[shard.to(self.coords.device)].contiguous()
        self.shard_values = self.values[shard.to(self.coords.device)].contiguous()
        if self.settings.compile or self.settings.fused_sine:
            from siren_inr.fit.fast import training_forward

            self._set_forward(training_forward(self.net, fused_sine=self.settings.fused_sine,
                                               compile=self.settings.compile,
                                               compile_mode=self.settings.compile_mode))
        self._tiled = self._tiled_inputs = None
        if self.uses_tiled_step():
            # Workers: the threads this fit was given (fit_threads runs around trainer.fit, and so around setup).
            self._tiled = TiledSirenStep(self.net, workers=torch.get_num_threads())
            self._tiled_inputs = network_inputs(self.net, self.shard_coords)

    def uses_tiled_step(self) -> bool:
        """Whether training steps run in pixel tiles (fit/tiled.py): trainer.tiled_step on a one-process fp32 CPU
        fit of a SIREN, without compile or fused_sine (those choose their own kernels)."""
        s = self.settings
        world = self.trainer.world_size if self._trainer is not None else 1
        return (s.tiled_step and world == 1 and self.device.type == "cpu" and str(s.precision) in ("32-true", "32")
                and not s.compile and not s.fused_sine and supports_tiled(self.net))

    def _set_forward(self, forward) -> None:
        # Bypass nn.Module.__setattr__: a compiled wrapper registered as a submodule would add a second,
        # renamed copy of every weight to the state_dict, and checkpoints would stop loading.
        object.__setattr__(self, "_forward", forward)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        # Checkpoints written before _set_forward hold that duplicate copy under "_forward."; drop it.
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith("_forward.")}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @property
    def steps_per_epoch(self) -> int:
        world = self.trainer.world_size if self._trainer is not None else 1
        return self.settings.steps_per_epoch(self.coords.shape[0], world)

    @property
    def total_steps(self) -> int:
        return self.settings.num_epochs * self.steps_per_epoch

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self._forward(coords)

    # --- training ---------------------------------------------------------------------------------
    def _batch(self, step_in_epoch: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
        n = self.shard_coords.shape[0]
        batch_size = self.settings.batch_size
        if batch_size is None or batch_size >= n:
            return self.shard_coords, self.shard_values, True
        if step_in_epoch == 0 or self._perm is None:
            self._perm = torch.randperm(n, device=self.shard_coords.device)
        idx = self._perm[step_in_epoch * batch_size:(step_in_epoch + 1) * batch_size]
        return self.shard_coords[idx], self.shard_values[idx], False

    def _shard_mse(self, output: torch.Tensor, values: torch.Tensor, step_in_epoch: int | None) -> torch.Tensor:
        """This process's squared error, scaled so that DDP's mean of the gradients (and of the logged losses)
        is that of the MSE over the pixels of all processes, also when shards or last batches differ in size."""
        world = self.trainer.world_size if self._trainer is not None else 1
        if world == 1:
            return torch.mean((output.float() - values) ** 2)
        pixels = self._pixels_in_step(step_in_epoch)
        return torch.sum((output.float() - values) ** 2) * (world / (pixels * values.shape[1]))

    def _pixels_in_step(self, step_in_epoch: int | None) -> int:
        """Pixels all processes use at this step (None: every pixel), mirroring _batch() on each rank's shard."""
        num, world, batch_size = self.coords.shape[0], self.trainer.world_size, self.settings.batch_size
        sizes = [len(range(rank, num, world)) for rank in range(world)]
        if step_in_epoch is None or batch_size is None:
            return num
        return sum(size if batch_size >= size else max(0, min(batch_size, size - step_in_epoch * batch_size))
                   for size in sizes)

    def training_step(self, batch, batch_idx: int):
        coords, values, whole = self._batch(int(batch_idx))
        step = self.global_step
        record = step % self.settings.history_every(self.total_steps) == 0
        single_full = whole and self.trainer.world_size == 1
        if self._tiled is not None:
            inputs = self._tiled_inputs if whole else network_inputs(self.net, coords)
            output = torch.empty_like(values) if record and single_full else None
            loss = tiled_mse(self._tiled, inputs, values, output=output)  # the MSE (one process: no shard scaling)
        else:
            output = self(coords)
            loss = self._shard_mse(output, values, int(batch_idx))
        if record:
            self._record(step, loss.detach(), output.detach() if single_full else None)
        return loss

    def full_prediction(self) -> torch.Tensor:
        """The whole image as the network now sees it, [1, C, H, W] in [0, 1]."""
        # The plain net: a compiled training forward would recompile for no_grad and the chunk shapes.
        values = predict_values(self.net, self.coords, self.settings.eval_chunk_size).float()
        height, width, channels = self.field_shape
        image = signed_to_unit(values).reshape(height, width, channels)
        return image.permute(2, 0, 1)[None]

    def _record(self, step: int, loss: torch.Tensor, output: torch.Tensor | None) -> None:
        if self.trainer.world_size > 1:
            loss = self.trainer.strategy.reduce(loss, reduce_op="mean")
        if output is not None:
            height, width, channels = self.field_shape
            pred = signed_to_unit(output.float()).reshape(height, width, channels).permute(2, 0, 1)[None]
        else:
            pred = self.full_prediction()
        # One host sync per logging interval, never per step.
        numbers = torch.stack([loss.float(), psnr_tensor(pred, self.gt_nchw), ssim_tensor(pred, self.gt_nchw)]).tolist()
        self._append_row(step, *numbers)

    def _append_row(self, step: int, loss: float, psnr: float, ssim: float) -> None:
        row = {STEP_COLUMN: step, EPOCH_COLUMN: step / self.steps_per_epoch, LOSS_COLUMN: loss,
               PSNR_COLUMN: psnr, SSIM_COLUMN: ssim}
        # A resumed fit re-measures the step its checkpoint closed on: keep one row per step.
        while self.history and self.history[-1][STEP_COLUMN] >= step:
            self.history.pop()
        self.history.append(row)
        for logger in self.loggers:
            logger.log_metrics({TRAIN_LOSS: loss, TRAIN_PSNR: psnr, TRAIN_SSIM: ssim}, step=step)

    def on_train_epoch_end(self) -> None:
        # Close the history with the state after the last update (step == total steps).
        step = self.global_step
        if self.current_epoch + 1 < self.trainer.max_epochs or (self.history and self.history[-1][STEP_COLUMN] == step):
            return
        values = predict_values(self.net, self.shard_coords, self.settings.eval_chunk_size).float()
        self._record(step, self._shard_mse(values, self.shard_values, None), None)

    def configure_optimizers(self):
        optimizer, scheduler = adam_for_fit(self.net.parameters(), self.settings, self.total_steps,
                                            self.steps_per_epoch)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- checkpoints ------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[HISTORY_CHECKPOINT_KEY] = [dict(row) for row in self.history]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.history = [dict(row) for row in checkpoint.get(HISTORY_CHECKPOINT_KEY, [])]
