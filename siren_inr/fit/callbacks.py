"""Callbacks of a fit: progress as a bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time

import pytorch_lightning as pl

from siren_inr.names import EPOCH_COLUMN, LOSS_COLUMN, PSNR_COLUMN, SSIM_COLUMN, STEP_COLUMN


def _latest(pl_module) -> dict:
    history = getattr(pl_module, "history", None)
    return history[-1] if history else {}


class StepProgressBar(pl.Callback):
    """One tqdm bar over all optimizer steps (Lightning's per-epoch bar is useless at one step per epoch);
    its postfix is the latest history row, so the bar itself never reads from the device."""

    def __init__(self):
        self._bar = None
        self._shown = 0

    def on_train_start(self, trainer, pl_module):
        if trainer.is_global_zero:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=pl_module.total_steps, initial=trainer.global_step, unit="step", dynamic_ncols=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._bar is None:
            return
        self._bar.update(trainer.global_step - self._bar.n)
        if len(pl_module.history) != self._shown:
            self._shown = len(pl_module.history)
            row = _latest(pl_module)
            self._bar.set_postfix(loss=f"{row[LOSS_COLUMN]:.3g}", psnr=f"{row[PSNR_COLUMN]:.2f}",
                                  ssim=f"{row[SSIM_COLUMN]:.4f}", refresh=False)

    def on_train_end(self, trainer, pl_module):
        if self._bar is not None:
            self.on_train_batch_end(trainer, pl_module, None, None, 0)
            self._bar.close()
            self._bar = None


class PlainProgress(pl.Callback):
    """One line per history row, for logs and pipes where a bar would be noise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._printed = 0
        self._start = 0.0

    def on_train_start(self, trainer, pl_module):
        self._start = time.perf_counter()
        self._printed = len(pl_module.history)

    def _flush(self, pl_module, total_steps: int) -> None:
        rows = pl_module.history
        for row in rows[self._printed:]:
            elapsed = time.perf_counter() - self._start
            print(f"step {row[STEP_COLUMN]:>7d}/{total_steps}  epoch {row[EPOCH_COLUMN]:.6g}  "
                  f"loss {row[LOSS_COLUMN]:.4g}  psnr {row[PSNR_COLUMN]:.2f} dB  ssim {row[SSIM_COLUMN]:.4f}  "
                  f"({elapsed:.1f} s)",
                  file=self.stream, flush=True)
        self._printed = len(rows)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.is_global_zero and len(pl_module.history) > self._printed:
            self._flush(pl_module, pl_module.total_steps)

    def on_train_end(self, trainer, pl_module):
        # The module appends the row of the final weights at the last epoch's end, after callbacks' epoch hooks.
        self.on_train_batch_end(trainer, pl_module, None, None, 0)


def progress_callbacks(mode: str) -> list[pl.Callback]:
    """The progress callbacks of a progress mode (Lightning's own bar is always off)."""
    if mode == "auto":
        mode = "bar" if sys.stdout.isatty() else "lines"
    if mode == "bar":
        return [StepProgressBar()]
    if mode == "lines":
        return [PlainProgress()]
    return []
