"""Fast fitting: fused sine layers and the training forward a fit uses (several images at once: fit/batched.py).

Everything here computes the same function as the plain network on the same weights (tests check it);
only the kernels differ. None of it needs a GPU or Triton to import or to run.
"""

from __future__ import annotations

from typing import Callable

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
        grad_z = torch.cos(z).mul_(grad_out)  # d/dz sin(z), in place; omega is applied inside the matmuls below
        zero = grad_z.new_zeros(())
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.addmm(zero, grad_z, weight, beta=0.0, alpha=omega)
        if ctx.needs_input_grad[1]:
            grad_w = torch.addmm(zero, grad_z.t(), x, beta=0.0, alpha=omega)
        if ctx.needs_input_grad[2]:
            # A matrix-vector product with ones, not grad_z.sum(0): on CPU the column sum of a narrow [N, width]
            # tensor runs 6x slower than gemv (101 ms against 16 ms for 393216 x 28 here); same sum, other order.
            ones = grad_z.new_ones(grad_z.shape[0])
            grad_b = torch.addmv(zero, grad_z.t(), ones, beta=0.0, alpha=omega)
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
