"""Several images fitted at once: K SIRENs of one architecture stacked into one batched network.

Narrow networks (the compression ladder, e.g. 10 x 28) leave the hardware idle per image; stacking K of
them turns K small matmuls into one batched matmul per layer. The loss is the sum of the K per-image
mean squared errors and Adam is elementwise, so each network is updated exactly as its own fit would
update it (same optimizer, same learning-rate schedule): the results equal K separate fits within float
rounding (tests check it against `fit_model`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from siren_inr.errors import SirenInrError
from siren_inr.fit.core import adam_for_fit
from siren_inr.fit.fast import supports_fused_sine
from siren_inr.fit.settings import FitSettings
from siren_inr.models.siren import Siren, SineLayer
from siren_inr.fit.tiled import tiled_mse, tiled_step_applies, tiled_step_for
from siren_inr.validation import check_positive_int

MIB = 1024 ** 2


class BatchedSiren(nn.Module):
    """K SIRENs of one architecture as stacked weights [K, out, in]: one bmm per layer for all K images."""

    def __init__(self, nets: Sequence[Siren]):
        super().__init__()
        if not nets:
            raise SirenInrError("BatchedSiren needs at least one network")
        layers0 = list(nets[0].net)
        for net in nets:
            if not supports_fused_sine(net) or len(net.net) != len(layers0):
                raise SirenInrError("BatchedSiren needs SIRENs of one architecture")
        self.omegas: list[float | None] = [float(m.omega_0) if isinstance(m, SineLayer) else None for m in layers0]
        weights, biases = [], []
        for i in range(len(layers0)):
            lins = [net.net[i].linear if isinstance(net.net[i], SineLayer) else net.net[i] for net in nets]
            if any(lin.weight.shape != lins[0].weight.shape for lin in lins):
                raise SirenInrError("BatchedSiren needs SIRENs of one architecture (layer sizes differ)")
            weights.append(nn.Parameter(torch.stack([lin.weight.detach() for lin in lins]).clone()))
            biases.append(nn.Parameter(torch.stack([lin.bias.detach() for lin in lins]).clone()))
        self.weights = nn.ParameterList(weights)
        self.biases = nn.ParameterList(biases)

    @property
    def num_nets(self) -> int:
        """How many images (networks) are stacked."""
        return self.weights[0].shape[0]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords [K, N, in] (or [N, in], shared by all K) -> values [K, N, out]."""
        x = coords if coords.ndim == 3 else coords.expand(self.num_nets, *coords.shape)
        for weight, bias, omega in zip(self.weights, self.biases, self.omegas):
            if omega is None:
                x = torch.baddbmm(bias[:, None, :], x, weight.transpose(1, 2))
            else:
                x = torch.sin(torch.baddbmm(bias[:, None, :], x, weight.transpose(1, 2), beta=omega, alpha=omega))
        return x

    def net_parameters(self, k: int) -> list[torch.Tensor]:
        """Network k's weight and bias per layer, input first (views of the stacked parameters)."""
        return [t for weight, bias in zip(self.weights, self.biases) for t in (weight[k], bias[k])]

    def copy_into(self, nets: Sequence[Siren]) -> None:
        """Write the stacked weights back into K separate SIRENs (e.g. to track or encode each one)."""
        for k, net in enumerate(nets):
            with torch.no_grad():
                for i, layer in enumerate(net.net):
                    lin = layer.linear if isinstance(layer, SineLayer) else layer
                    lin.weight.copy_(self.weights[i][k])
                    lin.bias.copy_(self.biases[i][k])


@dataclass
class BatchedFitResult:
    """Per-image results of a batched fit."""

    nets: list[Siren]
    loss_history: list[list[float]]  # [step][image] MSE on [-1, 1] values, read every `read_every` steps
    seconds: float


def fit_batched(nets: Sequence[Siren], coords: torch.Tensor, values: torch.Tensor, *, steps: int,
                lr: float = 1e-4, read_every: int = 100, settings: FitSettings | None = None) -> BatchedFitResult:
    """Fit K SIRENs to K pixel fields at once (full batch, Adam); coords [N, 2] or [K, N, 2], values [K, N, C].

    On the CPU (with `settings.tiled_step`, the default, and shared coords) each image's step runs in pixel tiles.

    With `settings`, its learning rate, weight decay and schedule are used (as `fit_model` would use them for
    a full-batch fit of `steps` steps) and `lr` is ignored. The host reads the losses every `read_every` steps.
    """
    check_positive_int("steps", steps)
    settings = settings if settings is not None else FitSettings(lr=lr)
    device = values.device
    batched = BatchedSiren(nets).to(device)
    if values.ndim != 3 or values.shape[0] != batched.num_nets:
        raise SirenInrError(f"values shape {tuple(values.shape)}; accepted: [K={batched.num_nets}, N, C]")
    optimizer, scheduler = adam_for_fit(batched.parameters(), settings, steps, 1)
    # On the CPU each image's loss and gradients come from the tiled step (fit/tiled.py), fed that image's
    # slice of the stacked weights; one Adam still updates the stack. Elsewhere: one bmm per layer for all K.
    tiled = tiled_step_for(nets[0], coords) if settings.tiled_step and coords.ndim == 2 else None
    history: list[list[float]] = []
    start = time.perf_counter()
    for step in range(steps):
        if tiled is not None:
            per_image = torch.stack([tiled_mse(tiled, coords, values[k], params=batched.net_parameters(k))
                                     for k in range(batched.num_nets)])
        else:
            per_image = torch.mean((batched(coords) - values) ** 2, dim=(1, 2))
        optimizer.zero_grad(set_to_none=True)
        per_image.sum().backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if step % read_every == 0 or step == steps - 1:
            history.append(per_image.detach().tolist())
    seconds = time.perf_counter() - start
    batched.copy_into(nets)
    return BatchedFitResult(nets=list(nets), loss_history=history, seconds=seconds)


def step_bytes_per_image(net: nn.Module, pixels: int, tiled: bool = False) -> int:
    """Bytes one image adds to a full-batch training step: its pixel field and, per layer, the activation,
    its pre-activation and their gradients (fp32). With `tiled` (the CPU's tiled step) only the pixel field:
    the tiled step's activations live in per-worker tile buffers that every image of the batch reuses."""
    widths = [m.out_features for m in net.modules() if isinstance(m, nn.Linear)]
    in_features = next(m.in_features for m in net.modules() if isinstance(m, nn.Linear))
    field = 2 * in_features + 2 * widths[-1]
    return pixels * 4 * (field if tiled else field + 4 * sum(widths))


def images_per_chunk(net: nn.Module, pixels: int, memory_bytes: int, tiled: bool = False) -> int:
    """How many images of `pixels` pixels one batched step of `net`'s architecture may hold in `memory_bytes`
    (at least 1: a single image is a separate fit, whose size `check_memory` judges); `tiled`: the step is the
    CPU's tiled one (see `step_bytes_per_image`)."""
    return max(1, int(memory_bytes // step_bytes_per_image(net, pixels, tiled)))


def batches_tiled(net: nn.Module, settings: FitSettings) -> bool:
    """Whether `fit_batched` with these settings steps `net`'s architecture with the tiled step."""
    return bool(settings.tiled_step) and tiled_step_applies(net, settings.device())
