"""Quantization-aware fine-tuning: a few hundred Adam steps through the quantized forward pass.

The forward pass uses the weights a decoder will see (`fake_quantize`); gradients pass straight
through the rounding to float "latent" weights. The latent weights whose quantized network scored
best on the image are kept, and the untuned weights count as step 0, so tuning never makes a file worse.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call

from siren_inr.compression.quantize import QuantSettings, fake_quantize, round_trip
from siren_inr.data import PixelField
from siren_inr.metrics.quality import psnr_db
from siren_inr.validation import check_int, check_positive_int, check_positive_number
from siren_inr.fit.tiled import network_inputs, tiled_mse, tiled_step_for


@dataclass(frozen=True)
class QatSettings:
    """Quantization-aware fine-tuning settings."""

    steps: int = 300  # Adam steps through the quantized forward (0 = off)
    lr: float = 1e-5  # learning rate of the latent (float) weights
    eval_every: int = 25  # score the quantized network every this many steps; keep the best

    def __post_init__(self) -> None:
        check_int("qat_steps", self.steps, 0)
        check_positive_number("qat_lr", self.lr)
        check_positive_int("qat_eval_every", self.eval_every)


@dataclass
class QatResult:
    """The tuned network (latent weights) and the quantized PSNR before and after."""

    model: nn.Module
    psnr_before_db: float
    psnr_after_db: float
    best_step: int
    history: list[dict] = field(default_factory=list)  # step, quantized psnr_db


def _quantized_tensors(model: nn.Module, quant: QuantSettings, straight_through: bool) -> dict[str, torch.Tensor]:
    op = fake_quantize if straight_through else round_trip
    tensors = dict(model.named_parameters())
    tensors.update({k: v for k, v in model.named_buffers() if k in model.state_dict()})
    return {k: op(v, quant) for k, v in tensors.items()}


@torch.no_grad()
def quantized_psnr_db(model: nn.Module, pixel_field: PixelField, quant: QuantSettings) -> float:
    """PSNR (dB) of the network's quantized weights on the field's image (before 8-bit rounding)."""
    tensors = _quantized_tensors(model, quant, straight_through=False)
    values = functional_call(model, tensors, (pixel_field.coords,))
    return psnr_db(pixel_field.to_image(values), pixel_field.image())


def _tiled_qat(model: nn.Module, pixel_field: PixelField):
    """(tiled step, parameter names in its order, its inputs) when the tiled CPU step can run the quantized
    forward: a SIREN whose state is exactly the step's parameters; else (None, None, None)."""
    tiled = tiled_step_for(model, pixel_field.coords)
    if tiled is None:
        return None, None, None
    names = {id(p): name for name, p in model.named_parameters()}
    order = [names.get(id(p)) for p in tiled.parameters]
    if None in order or set(order) != set(model.state_dict()):
        return None, None, None
    return tiled, order, network_inputs(model, pixel_field.coords)


def quantization_aware_finetune(model: nn.Module, pixel_field: PixelField, quant: QuantSettings,
                                settings: QatSettings) -> QatResult:
    """Fine-tune a copy of `model` through its quantized forward; keep the best-scoring latent weights."""
    tuned = copy.deepcopy(model).train()
    device = next(tuned.parameters()).device
    pixel_field = pixel_field.to(device)
    before = quantized_psnr_db(tuned, pixel_field, quant)
    history = [{"step": 0, "psnr_db": before}]
    if settings.steps == 0 or quant.mode == "fp32":
        return QatResult(tuned.eval(), before, before, 0, history)
    best_state = copy.deepcopy(tuned.state_dict())
    best_psnr, best_step = before, 0
    optimizer = torch.optim.Adam(tuned.parameters(), lr=settings.lr)
    tiled, names, inputs = _tiled_qat(tuned, pixel_field)
    for step in range(1, settings.steps + 1):
        optimizer.zero_grad(set_to_none=True)
        quantized = _quantized_tensors(tuned, quant, straight_through=True)
        if tiled is not None:  # the same loss through the tiled CPU step, fed the quantized weights
            loss = tiled_mse(tiled, inputs, pixel_field.values, params=[quantized[name] for name in names])
        else:
            values = functional_call(tuned, quantized, (pixel_field.coords,))
            loss = torch.mean((values - pixel_field.values) ** 2)
        loss.backward()
        optimizer.step()
        if step % settings.eval_every == 0 or step == settings.steps:
            score = quantized_psnr_db(tuned, pixel_field, quant)
            history.append({"step": step, "psnr_db": score})
            if score > best_psnr:
                best_psnr, best_step = score, step
                best_state = copy.deepcopy(tuned.state_dict())
    tuned.load_state_dict(best_state)
    return QatResult(tuned.eval(), before, best_psnr, best_step, history)
