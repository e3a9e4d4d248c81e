"""Per-image rate-distortion training of the latent codec (plain torch): loss = MSE + lambda * bits per pixel.

Starting from zero latents, a full-weight rate term pins them at zero before the synthesis has learnt to use
them, so the rate's weight ramps up from 0 over the first `rate_warmup` of the steps. The first
`noise_fraction` of the steps replace rounding by additive uniform noise (a differentiable proxy
of quantization, for the synthesis and the rate alike); the rest round the latents with a straight-through
gradient, so the networks finish tuned to the integer latents the file will hold.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import torch
from torch import nn

from siren_inr.compression.device import fit_device
from siren_inr.compression.latent.entropy import rate_bits
from siren_inr.compression.latent.model import LatentArchitecture, LatentDecoder
from siren_inr.data.pixels import image_chw
from siren_inr.validation import check_fraction, check_positive_int, check_positive_number


@dataclass(frozen=True)
class LatentTrainSettings:
    """How one image's latents and networks are trained."""

    lam: float = 0.004  # the rate knob: loss = MSE (on [0, 1]) + lam * bits per pixel
    steps: int = 2000
    lr: float = 0.04  # Adam, cosine-decayed to 1 % over the steps (latents and networks alike); 0.01 left the
    # latents pinned at zero in 300-step CPU fits (an Adam step moves a latent by about lr)
    noise_fraction: float = 0.7  # share of the steps with additive-noise latents, then straight-through rounding
    rate_warmup: float = 0.1  # share of the first steps over which the rate's weight ramps from 0 to lam
    seed: int = 0
    network_lr: float | None = None  # Adam's learning rate of the networks (None: lr, the latents' rate)

    def __post_init__(self) -> None:
        for name in ("lam", "lr", "network_lr"):
            check_positive_number(f"latent {name}", getattr(self, name), optional=name == "network_lr")
        check_positive_int("latent steps", self.steps)
        for name in ("noise_fraction", "rate_warmup"):
            check_fraction(f"latent {name}", getattr(self, name))


Networks = TypeVar("Networks", bound=nn.Module)


@dataclass
class TrainedLatents(Generic[Networks]):
    """Float latents (finest first) and the trained networks: a LatentDecoder (format version 2, this module), or
    LatentNetworks with latents y = gain * theta (version 3, latent.training)."""

    latents: list[torch.Tensor]
    networks: Networks
    seconds: float
    history: list[dict] = field(default_factory=list)


def straight_through_round(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity gradient."""
    return x + (torch.round(x) - x).detach()


def rd_loss(decoder: LatentDecoder, latents: list[torch.Tensor], target: torch.Tensor,
            lam: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, mse, bits) of given (noisy or rounded) latents against the target [C, H, W]."""
    mse = torch.mean((decoder(latents) - target) ** 2)
    bits = rate_bits(decoder.entropy, latents)
    return mse + lam * bits / (target.shape[1] * target.shape[2]), mse, bits


def train_latents(image: np.ndarray, arch: LatentArchitecture, settings: LatentTrainSettings,
                  log_every: int = 0) -> TrainedLatents[LatentDecoder]:
    """Fit latents and networks to an image [H, W, C] in [0, 1] for the R-D loss."""
    started = time.perf_counter()
    device = fit_device()
    target = image_chw(image).to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        decoder = LatentDecoder(arch).to(device)  # initialised on the CPU, then moved (a no-op on a CPU machine)
        latents = [nn.Parameter(torch.zeros(shape, device=device)) for shape in arch.level_shapes()]
        network_lr = settings.lr if settings.network_lr is None else settings.network_lr
        optimizer = torch.optim.Adam([{"params": latents, "lr": settings.lr},
                                      {"params": decoder.parameters(), "lr": network_lr}])
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s, settings.steps) / settings.steps)))
        noisy_steps = int(round(settings.noise_fraction * settings.steps))
        warmup_steps = settings.rate_warmup * settings.steps
        history = []
        for step in range(settings.steps):
            if step < noisy_steps:
                quantized = [y + torch.empty_like(y).uniform_(-0.5, 0.5) for y in latents]
            else:
                quantized = [straight_through_round(y) for y in latents]
            lam = settings.lam * (min(1.0, step / warmup_steps) if warmup_steps else 1.0)
            loss, mse, bits = rd_loss(decoder, quantized, target, lam)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if log_every and (step % log_every == 0 or step == settings.steps - 1):
                history.append({"step": step, "loss": float(loss), "psnr_db": -10 * math.log10(max(float(mse), 1e-12)),
                                "bpp": float(bits) / (arch.height * arch.width)})
    return TrainedLatents([y.detach().cpu() for y in latents], decoder.cpu(), time.perf_counter() - started, history)
