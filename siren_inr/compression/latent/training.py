"""Per-image rate-distortion training of the latent codec (format version 3): loss = MSE + lam * bits per pixel.

The recipe follows the measurements in the project's reference on overfitted codecs (Cool-chic's, measured on our
crops):

* Latents are stored as theta and used as y = gain * theta (gain 16; 20 below lam 5e-4, 24 below 2e-4), so that
  an Adam step at lr 0.01 moves a latent 0.16 quantization bins: the latents keep pace with the networks.
* Quantization is replaced in training by soft rounding plus Gaussian noise, for the synthesis and the rate
  alike: y~ = sr(sr(y, T) + sigma * N(0, 1), T), sr(x, T) = floor(x) + 1/2 + tanh((x - floor(x) - 1/2) / T) /
  (2 tanh(1 / (2T))). There is no straight-through phase (it raised the cost 24-28 % once latents moved).
* Budget: `steps` counts every step. A warm-up trains `candidates` differently seeded network initialisations
  (latents at zero) for `warmup_steps` each at constant lr (T = 0.35, sigma from lam), keeps the best two by the
  true (hard-rounded) cost, trains them as long again and keeps the best. The main phase decays lr on a cosine
  to 1e-5 while T goes 0.35 -> 0.08 and sigma 0.22 -> 0.15. The final `final_fraction` of the steps freeze the
  hard-rounded latents and fine-tune the networks at `final_lr` (cosine).
* Networks: SOAP (pytorch-optimizer's; betas 0.95, preconditioner refreshed every 10 steps) or Adam, weight decay
  0.01, gradients clipped to a total norm of `clip`; latents: Adam, unclipped.
* Every `CHECKPOINT_EVERY` steps and at the end of each phase the true cost is measured; the best parameters are
  kept and restored at the end of each phase.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from siren_inr.compression.device import fit_device
from siren_inr.compression.latent.network import Architecture, LatentNetworks
from siren_inr.compression.latent.train import TrainedLatents
from siren_inr.data.pixels import image_chw
from siren_inr.errors import SirenInrError
from siren_inr.validation import check_choice, check_int, check_number, check_positive_number

OPTIMIZERS = ("soap", "adam")
TEMPERATURE = (0.35, 0.08)  # soft-round temperature over the main phase (warm-up: the first)
NOISE = (0.22, 0.15)  # Gaussian noise sigma over the main phase
MIN_LR = 1e-5  # where the main phase's cosine ends
CHECKPOINT_EVERY = 100


@dataclass(frozen=True)
class LatentTrainSettings:
    """How one image's latents and networks are trained (see the module's docstring)."""

    lam: float = 0.004  # the rate knob: loss = MSE (on [0, 1]) + lam * bits per pixel
    steps: int = 3000  # every step: warm-up candidates, main phase, final phase
    lr: float = 0.01  # latents and networks, cosine-decayed to 1e-5 over the main phase
    final_lr: float = 1e-4  # the final phase's (networks only, latents frozen)
    final_fraction: float = 0.1667  # share of the steps in the final phase (500 of 3,000)
    candidates: int = 5  # warm-up candidates (1: no warm-up)
    warmup_steps: int = 50  # steps of each warm-up stage (at most steps // 60)
    gain: float = 0.0  # latent gain (0: 16, 20 below lam 5e-4, 24 below 2e-4)
    optimizer: str = "soap"  # the networks' optimizer: soap or adam
    clip: float = 0.1  # total-norm clipping of the networks' gradients (0: none)
    weight_decay: float = 0.01  # the networks' (decoupled) weight decay
    seed: int = 0  # seeds the latents' and the networks' initialisation

    def __post_init__(self) -> None:
        for name in ("lam", "lr", "final_lr"):
            check_positive_number(f"latent train.{name}", getattr(self, name))
        for name, low in (("steps", 1), ("candidates", 1), ("warmup_steps", 0), ("seed", 0)):
            check_int(f"latent train.{name}", getattr(self, name), low, accepted=f"an integer >= {low}")
        for name, high in (("final_fraction", 0.9), ("gain", 1000.0), ("clip", 1e6), ("weight_decay", 1.0)):
            check_number(f"latent train.{name}", getattr(self, name), 0, high, accepted=f"a number in [0, {high:g}]")
        check_choice("latent train.optimizer", self.optimizer, OPTIMIZERS)

    def latent_gain(self) -> float:
        """The gain y = gain * theta."""
        if self.gain:
            return float(self.gain)
        return 24.0 if self.lam < 2e-4 else 20.0 if self.lam < 5e-4 else 16.0

    def warmup_sigma(self) -> float:
        """The warm-up's noise: larger at low rates."""
        return (-0.432 * math.log10(self.lam) + 0.747) / 10

    def budget(self) -> tuple[int, int, int]:
        """(steps of each warm-up stage, main steps, final steps); the stages cost candidates + 2 stages."""
        final = int(round(self.final_fraction * self.steps))
        stage = min(self.warmup_steps, self.steps // 60) if self.candidates > 1 else 0
        warmup = stage * (self.candidates + min(2, self.candidates))
        main = self.steps - final - warmup
        if main < 1:
            raise SirenInrError(f"latent train.steps={self.steps} leaves no main phase after the warm-up and the "
                                f"final phase; accepted: more steps, fewer candidates or a smaller final_fraction")
        return stage, main, final


def soft_round(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """A differentiable rounding: the identity as temperature -> inf, rounding as it -> 0."""
    floor = torch.floor(x)
    return floor + 0.5 + 0.5 * torch.tanh((x - floor - 0.5) / temperature) / math.tanh(0.5 / temperature)


def noisy_latents(latents: list[torch.Tensor], temperature: float, sigma: float) -> list[torch.Tensor]:
    """sr(sr(y, T) + sigma * N(0, 1), T) for every grid."""
    return [soft_round(soft_round(y, temperature) + sigma * torch.randn_like(y), temperature) for y in latents]


class _Candidate:
    """One network initialisation with its latents and optimizers."""

    def __init__(self, arch: Architecture, settings: LatentTrainSettings, seed: int, device: torch.device) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.networks = LatentNetworks(arch)  # initialised on the CPU: the same weights on any machine
        self.networks.to(device)
        self.theta = [nn.Parameter(torch.zeros(shape, device=device)) for shape in arch.level_shapes()]
        self.settings = settings
        self.gain = settings.latent_gain()
        self.cost = math.inf
        self.best: tuple[float, list[torch.Tensor], dict] | None = None
        self.optimizers(settings.lr, latents=True, preconditioner_every=1)

    def optimizers(self, lr: float, latents: bool, preconditioner_every: int) -> None:
        """Fresh optimizers at `lr` (latents too unless frozen)."""
        params = list(self.networks.parameters())
        if self.settings.optimizer == "soap":
            from pytorch_optimizer import SOAP

            self.net_opt = SOAP(params, lr=lr, betas=(0.95, 0.95), weight_decay=self.settings.weight_decay,
                                precondition_frequency=preconditioner_every, max_precondition_dim=256)
        else:
            self.net_opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), weight_decay=self.settings.weight_decay)
        self.latent_opt = torch.optim.Adam(self.theta, lr=lr, betas=(0.9, 0.999)) if latents else None

    def latents(self) -> list[torch.Tensor]:
        return [self.gain * t for t in self.theta]

    def step(self, target: torch.Tensor, lam: float, lr: float, temperature: float | None, sigma: float) -> dict:
        """One step; temperature None: hard-rounded, frozen latents (the final phase)."""
        for opt in (self.net_opt, self.latent_opt):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = lr
        if temperature is None:
            latents = [torch.round(y).detach() for y in self.latents()]
        else:
            latents = noisy_latents(self.latents(), temperature, sigma)
        loss, mse, bits = rd_loss(self.networks, latents, target, lam)
        self.net_opt.zero_grad(set_to_none=True)
        if self.latent_opt is not None:
            self.latent_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.settings.clip:
            torch.nn.utils.clip_grad_norm_(self.networks.parameters(), self.settings.clip)
        self.net_opt.step()
        if self.latent_opt is not None:
            self.latent_opt.step()
        return {"loss": loss.detach(), "mse": mse.detach(), "bits": bits.detach()}  # read only when logged

    @torch.no_grad()
    def true_cost(self, target: torch.Tensor, lam: float) -> tuple[float, float, float]:
        """(cost, mse, bits) with hard-rounded latents: what the file will give (network bits aside)."""
        loss, mse, bits = rd_loss(self.networks, [torch.round(y) for y in self.latents()], target, lam)
        return float(loss), float(mse), float(bits)

    def checkpoint(self, target: torch.Tensor, lam: float) -> float:
        """Measure the true cost; keep the parameters if they are the best so far."""
        cost = self.true_cost(target, lam)[0]
        self.cost = cost
        if self.best is None or cost < self.best[0]:
            self.best = (cost, [t.detach().clone() for t in self.theta], copy.deepcopy(self.networks.state_dict()))
        return cost

    def restore_best(self) -> None:
        """Back to the best parameters measured."""
        if self.best is None:
            return
        cost, theta, state = self.best
        with torch.no_grad():
            for t, saved in zip(self.theta, theta):
                t.copy_(saved)
        self.networks.load_state_dict(state)
        self.cost = cost


def rd_loss(networks: LatentNetworks, latents: list[torch.Tensor], target: torch.Tensor,
            lam: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, mse, bits): MSE of the clamped image on [0, 1] + lam * bits per pixel."""
    mse = torch.mean((networks(latents).clamp(0.0, 1.0) - target) ** 2)
    bits = networks.rate_bits(latents)
    return mse + lam * bits / (target.shape[1] * target.shape[2]), mse, bits


def _cosine(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))


def train_latents(image: np.ndarray, arch: Architecture, settings: LatentTrainSettings,
                  log_every: int = 0) -> TrainedLatents[LatentNetworks]:
    """Fit latents and networks to an image [H, W, C] in [0, 1] for the R-D loss (the module's recipe)."""
    started = time.perf_counter()
    device = fit_device()
    target = image_chw(image).to(device)
    stage, main_steps, final_steps = settings.budget()
    history: list[dict] = []
    done = 0

    def log(phase: str, candidate: _Candidate, numbers: dict) -> None:
        if log_every and (done % log_every == 0):  # the only place a step's numbers leave the device
            pixels = arch.height * arch.width
            history.append({"step": done, "phase": phase, "loss": float(numbers["loss"]),
                            "psnr_db": -10 * math.log10(max(float(numbers["mse"]), 1e-12)),
                            "bpp": float(numbers["bits"]) / pixels})

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        candidates = [_Candidate(arch, settings, settings.seed * 1000 + i, device)
                      for i in range(settings.candidates if stage else 1)]
        sigma = settings.warmup_sigma()
        for keep in ((min(2, len(candidates)), 1) if stage else ()):
            for candidate in candidates:
                for _ in range(stage):
                    log("warmup", candidate, candidate.step(target, settings.lam, settings.lr, TEMPERATURE[0], sigma))
                    done += 1
                candidate.checkpoint(target, settings.lam)
            candidates = sorted(candidates, key=lambda c: c.cost)[:keep]
        best = candidates[0]
        best.best = None  # the main phase's best is measured from here
        best.optimizers(settings.lr, latents=True, preconditioner_every=10)
        for step in range(main_steps):
            fraction = step / max(1, main_steps - 1)
            lr = _cosine(settings.lr, MIN_LR, step / main_steps)
            temperature = TEMPERATURE[0] + (TEMPERATURE[1] - TEMPERATURE[0]) * fraction
            noise = NOISE[0] + (NOISE[1] - NOISE[0]) * fraction
            log("main", best, best.step(target, settings.lam, lr, temperature, noise))
            done += 1
            if (step + 1) % CHECKPOINT_EVERY == 0:
                best.checkpoint(target, settings.lam)
        best.checkpoint(target, settings.lam)
        best.restore_best()
        if final_steps:
            best.optimizers(settings.final_lr, latents=False, preconditioner_every=10)
            for step in range(final_steps):
                log("final", best, best.step(target, settings.lam, _cosine(settings.final_lr, 0.0, step / final_steps),
                                             None, 0.0))
                done += 1
                if (step + 1) % CHECKPOINT_EVERY == 0:
                    best.checkpoint(target, settings.lam)
            best.checkpoint(target, settings.lam)
            best.restore_best()
    latents = [y.detach().cpu() for y in best.latents()]
    return TrainedLatents(latents, best.networks.cpu(), time.perf_counter() - started, history)
