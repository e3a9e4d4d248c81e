"""The one MLP builder: Linear layers of the given widths with an activation between them, then an init.

Every family whose body is "Linear, activation, ..., Linear" builds it here (relu, tanh, mixed's tanh body,
and the ReLU heads of nerf, fourier, rbf and hash_grid). The order in which the random number generator is
consumed is part of the contract: all Linear layers are created first (each draws PyTorch's default init),
then `init_` runs on each in order, so a seed gives the same weights as it always has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn


def mlp(widths: Sequence[int], activation: Callable[[], nn.Module],
        init_: Callable[[nn.Linear], None] | None = None) -> nn.Sequential:
    """Linear(widths[0] -> widths[1]), activation, ..., Linear(widths[-2] -> widths[-1]) (no final activation).

    `init_` (if given) re-initialises every Linear in order after all of them have been created.
    """
    if len(widths) < 2:
        raise ValueError(f"an MLP needs at least an input and an output width, got {list(widths)}")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(widths) - 2:
            layers.append(activation())
    if init_ is not None:
        for module in layers:
            if isinstance(module, nn.Linear):
                init_(module)
    return nn.Sequential(*layers)


def init_kaiming_(linear: nn.Linear) -> None:
    """Kaiming-normal (fan_in, relu) weights: constant activation variance through ReLU layers.

    Biases keep PyTorch's default init, as in the SIREN reference baselines.
    """
    nn.init.kaiming_normal_(linear.weight, a=0.0, mode="fan_in", nonlinearity="relu")


def init_xavier_(linear: nn.Linear) -> None:
    """Xavier-normal weights (suited to tanh's unit slope at 0); bias keeps PyTorch's default."""
    nn.init.xavier_normal_(linear.weight)


def relu_mlp(in_features: int, hidden_features: int, hidden_layers: int, out_features: int) -> nn.Sequential:
    """Linear+ReLU into the width, `hidden_layers` Linear+ReLU layers, then a linear output; Kaiming-normal weights."""
    return mlp([in_features, *[hidden_features] * (hidden_layers + 1), out_features], nn.ReLU, init_kaiming_)
