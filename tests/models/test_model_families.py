"""Behaviour common to every family: shapes for any leading batch shape, and that each can fit a signal."""

from __future__ import annotations

import pytest
import torch

from siren_inr.models import build_model


@pytest.mark.parametrize("leading", [(1,), (7,), (4, 5), (2, 3, 6), ()])
def test_output_shape_for_any_leading_batch_shape(family, leading, small_hparams):
    torch.manual_seed(0)
    model = build_model(family, **small_hparams(family))
    out = model(torch.rand(*leading, 2) * 2 - 1)
    assert out.shape == (*leading, 3)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_defaults_map_2d_coords_to_one_channel(family):
    # Only nerf has a required choice; everything else builds from defaults alone.
    extra = {"sidelength": 256} if family == "nerf" else {}
    model = build_model(family, **extra)
    assert model(torch.zeros(3, 2)).shape == (3, 1)


def test_batch_rows_are_independent(family, small_hparams):
    torch.manual_seed(0)
    model = build_model(family, **small_hparams(family))
    coords = torch.rand(20, 2) * 2 - 1
    with torch.no_grad():
        full = model(coords)
        parts = torch.cat([model(coords[:7]), model(coords[7:])])
    torch.testing.assert_close(full, parts)


def test_each_family_can_reduce_loss_on_a_tiny_image(family, small_hparams):
    torch.manual_seed(0)
    side = 16
    axis = torch.linspace(-1, 1, side)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    coords = torch.stack((xx, yy), dim=-1).reshape(-1, 2)
    target = (torch.sin(3 * xx) * torch.cos(2 * yy)).reshape(-1, 1)
    model = build_model(family, **small_hparams(family, out_features=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        loss = torch.mean((model(coords) - target) ** 2)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], (family, losses[0], losses[-1])
