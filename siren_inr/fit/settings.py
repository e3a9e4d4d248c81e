"""Typed settings of one fit: the optimiser and trainer groups of the config, and the flat FitSettings a fit runs on.

`OptimSettings` and `TrainerSettings` are also the Hydra schemas of `conf/optim/` and `conf/trainer/`: a value of
the wrong type is refused by Hydra naming the key; ranges are checked by `FitSettings.validate()`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from siren_inr.data.settings import DataSpec
from siren_inr.fit.core import SCHEDULES
from siren_inr.fit.datamodule import steps_per_epoch
from siren_inr.validation import (check_choice, check_number, check_positive_int,
                                  check_positive_number, refuse)

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
PRECISIONS = ("32-true", "32", "64-true", "64", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "bf16", "16",
              "transformer-engine", "transformer-engine-float16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
PROGRESS_MODES = ("auto", "bar", "lines", "none")
HISTORY_POINTS = 100  # history rows of a fit when log_every_n_steps is not set
MAX_COUNT = 10 ** 9  # epochs, steps, pixels per batch: beyond this a value is a typo, not a plan


@dataclass
class OptimSettings:
    """`optim`: Adam and its learning-rate schedule."""

    lr: float = 1e-4  # Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay
    lr_schedule: str = "none"  # none | cosine | exponential | step (stepped every optimizer step)
    lr_min: float = 0.0  # cosine: the learning rate at the end
    lr_gamma: float = 0.1  # exponential: total decay factor over the fit; step: factor per lr_step_epochs
    lr_step_epochs: int = 1000  # step: epochs between decays


@dataclass
class TrainerSettings:
    """`trainer`: where and how the fit runs (Lightning's Trainer arguments and the speed switches)."""

    accelerator: str = "auto"  # auto (the GPU when there is one) | cpu | gpu
    devices: Any = 1  # devices (processes) per node: a positive count, -1 (every GPU) or "auto"
    num_nodes: int = 1  # nodes; each runs `devices` processes
    strategy: str = "auto"  # auto | ddp | ...
    precision: str = "32-true"  # Lightning precision: 32-true, bf16-mixed, 16-mixed, ...
    deterministic: bool = True  # deterministic algorithms: bit-exact reruns on CPU
    matmul_precision: str = "highest"  # highest (fp32) | high (TF32 on Ampere+) | medium
    compile: bool = False  # torch.compile the network
    compile_mode: str = "default"  # torch.compile mode: default | reduce-overhead | max-autotune | ...
    fused_sine: bool = False  # SIREN only: omega folded into the matmul, hand-written sine backward
    tiled_step: bool = True  # CPU, SIREN: the step in cache-sized pixel tiles, gradients by hand (fit/tiled.py)
    num_threads: int | None = None  # CPU threads for torch (None: torch's default)


@dataclass
class FitSettings:
    """How to fit a network to one pixel field; every field is a primitive so it can live in a checkpoint."""

    num_epochs: int = 500  # one epoch = one pass over all pixels (the command's default: cli/schema.py)
    lr: float = OptimSettings.lr  # the optim and trainer fields: declared (defaults, meaning) in the groups above
    batch_size: int | None = None  # pixels per step; None = the whole image (full batch)
    lr_schedule: str = OptimSettings.lr_schedule
    lr_min: float = OptimSettings.lr_min
    lr_gamma: float = OptimSettings.lr_gamma
    lr_step_epochs: int = OptimSettings.lr_step_epochs
    weight_decay: float = OptimSettings.weight_decay
    log_every_n_steps: int | None = None  # full-image PSNR/SSIM + history row every this many optimizer steps;
    # None: every total_steps / HISTORY_POINTS steps, so that every fit has a readable history
    epochs_til_ckpt: int | None = None  # keep a numbered checkpoint every this many epochs (None: only last)
    last_ckpt_every_n_epochs: int = 100  # refresh last.ckpt this often (what a killed fit resumes from)
    eval_chunk_size: int = DataSpec.eval_chunk_size  # pixels per forward pass when predicting the full image
    accelerator: str = TrainerSettings.accelerator
    devices: int | str = TrainerSettings.devices
    num_nodes: int = TrainerSettings.num_nodes
    strategy: str = TrainerSettings.strategy
    precision: str = TrainerSettings.precision
    deterministic: bool = TrainerSettings.deterministic
    matmul_precision: str = TrainerSettings.matmul_precision
    compile: bool = TrainerSettings.compile
    compile_mode: str = TrainerSettings.compile_mode
    num_threads: int | None = TrainerSettings.num_threads
    fused_sine: bool = TrainerSettings.fused_sine
    tiled_step: bool = TrainerSettings.tiled_step
    progress: str = "auto"  # auto | bar | lines | none

    @classmethod
    def from_groups(cls, optim: OptimSettings, trainer: TrainerSettings, **rest: Any) -> "FitSettings":
        """FitSettings from the config's optim and trainer groups plus the top-level fit keys in `rest`."""
        merged = {**asdict(optim), **asdict(trainer), **rest}
        merged["precision"] = str(merged["precision"])
        own = {f.name for f in fields(cls)}
        unknown = sorted(set(merged) - own)
        if unknown:
            raise TypeError(f"not fit settings: {', '.join(unknown)}")
        return cls(**merged)

    def validate(self) -> "FitSettings":
        """Raise SirenInrError naming the first bad value."""
        check_positive_int("num_epochs", self.num_epochs, MAX_COUNT)
        check_positive_number("optim.lr", self.lr)
        check_positive_int("data.batch_size", self.batch_size, MAX_COUNT, optional=True,
                           accepted=f"a positive integer up to {MAX_COUNT}")
        check_positive_int("log_every_n_steps", self.log_every_n_steps, MAX_COUNT, optional=True,
                           accepted=f"a positive integer up to {MAX_COUNT}")
        check_positive_int("last_ckpt_every_n_epochs", self.last_ckpt_every_n_epochs, MAX_COUNT)
        check_positive_int("eval_chunk_size", self.eval_chunk_size, MAX_COUNT)
        check_positive_int("trainer.num_threads", self.num_threads, MAX_COUNT, optional=True,
                           accepted=f"a positive integer up to {MAX_COUNT}")
        check_positive_int("epochs_til_ckpt", self.epochs_til_ckpt, MAX_COUNT, optional=True,
                           accepted=f"a positive integer up to {MAX_COUNT}")
        check_choice("optim.lr_schedule", self.lr_schedule, SCHEDULES)
        if self.lr_schedule == "step":
            check_positive_int("optim.lr_step_epochs", self.lr_step_epochs, MAX_COUNT)
        if self.lr_schedule in ("exponential", "step"):
            check_positive_number("optim.lr_gamma", self.lr_gamma)
        check_number("optim.lr_min", self.lr_min, 0)
        check_number("optim.weight_decay", self.weight_decay, 0)
        check_choice("progress", self.progress, PROGRESS_MODES)
        check_choice("trainer.accelerator", self.accelerator, ACCELERATORS)
        if str(self.precision) not in PRECISIONS:  # Hydra may give 32 or "32"
            refuse("trainer.precision", self.precision, ", ".join(PRECISIONS))
        if not (self.devices in ("auto", -1) and not isinstance(self.devices, bool)):
            check_positive_int("trainer.devices", self.devices, 4096,
                               accepted="a positive integer, -1 (every GPU) or auto")
        check_positive_int("trainer.num_nodes", self.num_nodes, MAX_COUNT)
        check_choice("trainer.matmul_precision", self.matmul_precision, ("highest", "high", "medium"))
        check_choice("trainer.compile_mode", self.compile_mode, COMPILE_MODES)
        return self

    def history_every(self, total_steps: int) -> int:
        """Steps between history rows: log_every_n_steps, or about HISTORY_POINTS rows over the whole fit."""
        if self.log_every_n_steps is not None:
            return int(self.log_every_n_steps)
        return max(1, math.ceil(total_steps / HISTORY_POINTS))

    def device(self) -> str:
        """The device type a fit with these settings runs on: cuda or cpu."""
        import torch

        if self.accelerator in ("gpu", "cuda") or (self.accelerator == "auto" and torch.cuda.is_available()):
            return "cuda"
        return "cpu"

    def as_dict(self) -> dict:
        """Primitive dict (for checkpoints and records)."""
        return asdict(self)

    def steps_per_epoch(self, num_pixels: int, world_size: int = 1) -> int:
        """Optimizer steps in one pass over the pixels of one process's shard."""
        return steps_per_epoch(num_pixels, self.batch_size, world_size)
