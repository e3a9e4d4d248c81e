"""Fast fitting: fused sine layers, the training forward a fit uses, and several images fitted at once.

Everything here computes the same function as the plain network on the same weights (tests check it);
only the kernels differ. None of it needs a GPU or Triton to import or to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from siren_inr.errors import SirenInrError
from siren_inr.fit.settings import COMPILE_MODES
from siren_inr.models.siren import Siren, SineLayer


class FusedSineLinear(torch.autograd.Function):
    """y = sin(omega * (x W^T + b)) with omega folded into one addmm, and the backward written out by hand.

    Autograd on the plain layer runs linear, a separate multiply by omega, sin, and in the backward a
    separate multiply again: two passes over [N, width] that carry no arithmetic worth a kernel. Here
    omega rides on the matmul's alpha/beta, so each direction saves one elementwise pass.
    Saved for the backward: x (kept anyway: it is the previous layer's output) and z, as in autograd.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, omega: float) -> torch.Tensor:
        z = torch.addmm(bias, x, weight.t(), beta=omega, alpha=omega)
        ctx.save_for_backward(x, weight, z)
        ctx.omega = omega
        return torch.sin(z)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, weight, z = ctx.saved_tensors
        omega = ctx.omega
        grad_z = grad_out * torch.cos(z)  # d/dz sin(z); omega is applied inside the matmuls below
        zero = grad_z.new_zeros(())
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.addmm(zero, grad_z, weight, beta=0.0, alpha=omega)
        if ctx.needs_input_grad[1]:
            grad_w = torch.addmm(zero, grad_z.t(), x, beta=0.0, alpha=omega)
        if ctx.needs_input_grad[2]:
            grad_b = grad_z.sum(0) * omega
        return grad_x, grad_w, grad_b, None


def fused_sine_layer(layer: SineLayer, x: torch.Tensor) -> torch.Tensor:
    """The SineLayer's output through the fused kernel (same weights, same function)."""
    lin = layer.linear
    lead = x.shape[:-1]
    y = FusedSineLinear.apply(x.reshape(-1, x.shape[-1]), lin.weight, lin.bias, float(layer.omega_0))
    return y.reshape(*lead, y.shape[-1])


class _FusedSirenForward:
    """A callable (deliberately not an nn.Module, so it adds nothing to a state_dict) running a Siren fused."""

    def __init__(self, net: Siren):
        self.net = net

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        x = coords
        for layer in self.net.net:
            if isinstance(layer, SineLayer):
                x = fused_sine_layer(layer, x)
            else:
                x = layer(x)
        return x


def supports_fused_sine(net: nn.Module) -> bool:
    """Whether `net` is a SIREN whose layers the fused kernel can run."""
    return isinstance(net, Siren) and all(isinstance(m, (SineLayer, nn.Linear)) for m in net.net)


def training_forward(net: nn.Module, *, fused_sine: bool = False, compile: bool = False,
                     compile_mode: str = "default") -> Callable[[torch.Tensor], torch.Tensor]:
    """The forward a fit trains through: the net itself, fused, compiled, or both (weights always shared)."""
    if compile_mode not in COMPILE_MODES:
        raise SirenInrError(f"trainer.compile_mode={compile_mode!r}; accepted: {', '.join(COMPILE_MODES)}")
    forward: Callable = net
    if fused_sine:
        if not supports_fused_sine(net):
            raise SirenInrError(f"trainer.fused_sine=true needs model.name=siren, got {type(net).__name__}; "
                                f"accepted: fused_sine=false for other models")
        forward = _FusedSirenForward(net)
    if compile:
        forward = torch.compile(forward, mode=None if compile_mode == "default" else compile_mode)
    return forward


# --- several images at once ------------------------------------------------------------------------

class BatchedSiren(nn.Module):
    """K SIRENs of one architecture as stacked weights [K, out, in]: one bmm per layer for all K images.

    Narrow networks (the compression ladder, e.g. 10 x 28) leave a GPU idle per image; stacking K of
    them turns K small matmuls into one batched matmul. Adam is elementwise, so one Adam over the
    stacked tensors updates each image's network exactly as its own Adam would.
    """

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
        for i, first in enumerate(layers0):
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
                lr: float = 1e-4, read_every: int = 100) -> BatchedFitResult:
    """Fit K SIRENs to K pixel fields at once (full batch, Adam); coords [N, 2] or [K, N, 2], values [K, N, C].

    The loss is the sum of the K per-image mean squared errors, so each network gets exactly the
    gradient of its own fit; the host reads the losses only every `read_every` steps.
    """
    import time

    if steps <= 0:
        raise SirenInrError(f"steps={steps!r}; accepted: a positive integer")
    device = values.device
    batched = BatchedSiren(nets).to(device)
    if values.ndim != 3 or values.shape[0] != batched.num_nets:
        raise SirenInrError(f"values shape {tuple(values.shape)}; accepted: [K={batched.num_nets}, N, C]")
    optimizer = torch.optim.Adam(batched.parameters(), lr=lr)
    history: list[list[float]] = []
    start = time.perf_counter()
    for step in range(steps):
        per_image = torch.mean((batched(coords) - values) ** 2, dim=(1, 2))
        optimizer.zero_grad(set_to_none=True)
        per_image.sum().backward()
        optimizer.step()
        if step % read_every == 0 or step == steps - 1:
            history.append(per_image.detach().tolist())
    seconds = time.perf_counter() - start
    batched.copy_into(nets)
    return BatchedFitResult(nets=list(nets), loss_history=history, seconds=seconds)
