"""The fitting core, plain torch: Adam with a learning-rate schedule, and a full-batch fit that takes the tiled CPU
step (fit/tiled.py) where it applies. The LightningModule (fit/module.py), the batched fits (fit/batched.py) and the
network codecs (compression/network/) all build their optimizer here; the codecs' full-batch fit is
`full_batch_fit`. Nothing here imports Lightning (an import-linter contract lets compression/ import this module
and fit/tiled.py, and nothing else of fit/).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import torch
from torch import nn

from siren_inr.errors import SirenInrError
from siren_inr.fit.tiled import network_inputs, tiled_mse, tiled_step_for

SCHEDULES = ("none", "cosine", "exponential", "step")


def adam_with_schedule(params: Iterable[torch.Tensor], *, lr: float, schedule: str, total_steps: int,
                       weight_decay: float = 0.0, lr_min: float = 0.0, gamma: float = 0.1,
                       step_size: int = 1) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LRScheduler | None]:
    """Adam and its schedule, stepped once per optimizer step: (optimizer, scheduler or None).

    none: constant lr; cosine: lr to lr_min over total_steps; exponential: lr to lr * gamma over total_steps;
    step: times gamma every step_size steps.
    """
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    total = max(1, total_steps)
    if schedule == "none":
        return optimizer, None
    if schedule == "cosine":
        return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=lr_min)
    if schedule == "exponential":
        return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=math.pow(gamma, 1.0 / total))
    if schedule == "step":
        return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, step_size), gamma=gamma)
    raise SirenInrError(f"lr_schedule={schedule!r}; accepted: {', '.join(SCHEDULES)}")


def adam_for_fit(params: Iterable[torch.Tensor], settings, total_steps: int, steps_per_epoch: int):
    """adam_with_schedule from a fit's optimizer settings (fit/settings.py: lr, weight_decay, lr_schedule, lr_min,
    lr_gamma, lr_step_epochs; the step schedule counts epochs of steps_per_epoch optimizer steps)."""
    return adam_with_schedule(params, lr=settings.lr, schedule=settings.lr_schedule, total_steps=total_steps,
                              weight_decay=settings.weight_decay, lr_min=settings.lr_min, gamma=settings.lr_gamma,
                              step_size=settings.lr_step_epochs * steps_per_epoch)


def full_batch_fit(model: nn.Module, coords: torch.Tensor, values: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scheduler: torch.optim.lr_scheduler.LRScheduler | None, steps: int,
                   penalty: Callable[[], torch.Tensor] | None = None) -> float:
    """`steps` full-batch steps on the MSE of model(coords) against values (+ penalty()); the seconds spent.

    On the CPU a SIREN's step runs in cache-sized pixel tiles (fit/tiled.py): the same loss and gradients.
    """
    started = time.perf_counter()
    tiled = tiled_step_for(model, coords)
    inputs = network_inputs(model, coords) if tiled is not None else None
    for _ in range(steps):
        if tiled is not None:
            loss = tiled_mse(tiled, inputs, values)
        else:
            loss = torch.mean((model(coords) - values) ** 2)
        if penalty is not None:
            loss = loss + penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return time.perf_counter() - started
