"""Tanh MLP baseline with Xavier-normal init."""

from __future__ import annotations

import torch
from torch import nn

from siren_inr.models.base import InrModel, common_sizes
from siren_inr.models.registry import register_model


def init_xavier_(linear: nn.Linear) -> None:
    """Xavier-normal weights (suited to tanh's unit slope at 0); bias keeps PyTorch's default."""
    nn.init.xavier_normal_(linear.weight)


@register_model("tanh")
class TanhMLP(InrModel):
    """Linear+Tanh into the width, `hidden_layers` Linear+Tanh layers, then a linear output."""

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 1,
        hidden_features: int = 256,
        hidden_layers: int = 3,
    ) -> None:
        super().__init__()
        in_f, out_f, width, depth = common_sizes("tanh", in_features, out_features, hidden_features, hidden_layers)
        self._record_spec(in_features=in_f, out_features=out_f, hidden_features=width, hidden_layers=depth)
        layers: list[nn.Module] = [nn.Linear(in_f, width), nn.Tanh()]
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.Tanh()]
        layers.append(nn.Linear(width, out_f))
        for module in layers:
            if isinstance(module, nn.Linear):
                init_xavier_(module)
        self.net = nn.Sequential(*layers)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Map coordinates [..., in_features] to values [..., out_features]."""
        return self.net(coords)
