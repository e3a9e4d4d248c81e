"""ReLU MLP baseline, and the ReLU head reused by the encoding-based families (nerf, fourier, rbf)."""

from __future__ import annotations

import torch
from torch import nn

from siren_inr.models.base import InrModel, common_sizes
from siren_inr.models.registry import register_model


def relu_mlp(in_features: int, hidden_features: int, hidden_layers: int, out_features: int) -> nn.Sequential:
    """Linear+ReLU into the width, `hidden_layers` Linear+ReLU layers, then a linear output; Kaiming-normal weights."""
    layers: list[nn.Module] = [nn.Linear(in_features, hidden_features), nn.ReLU()]
    for _ in range(hidden_layers):
        layers += [nn.Linear(hidden_features, hidden_features), nn.ReLU()]
    layers.append(nn.Linear(hidden_features, out_features))
    for module in layers:
        if isinstance(module, nn.Linear):
            # Kaiming (fan_in, relu) keeps activation variance constant through ReLU layers; biases keep
            # PyTorch's default init, as in the SIREN reference baselines.
            nn.init.kaiming_normal_(module.weight, a=0.0, mode="fan_in", nonlinearity="relu")
    return nn.Sequential(*layers)


@register_model("relu")
class ReluMLP(InrModel):
    """Plain ReLU MLP on raw coordinates (the spectral-bias baseline)."""

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 1,
        hidden_features: int = 256,
        hidden_layers: int = 3,
    ) -> None:
        super().__init__()
        in_f, out_f, width, depth = common_sizes("relu", in_features, out_features, hidden_features, hidden_layers)
        self._record_spec(in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth)
        self.net = relu_mlp(in_f, width, depth, out_f)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(coords)
