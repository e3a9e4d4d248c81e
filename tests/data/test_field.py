"""Pixel fields, coordinate grids and the step-number DataModule."""

from __future__ import annotations

import numpy as np
import torch

from siren_inr.data import PixelField, coordinate_grid
from siren_inr.fit.datamodule import PixelFieldDataModule, steps_per_epoch


def test_grid_spans_minus_one_to_one_row_major():
    grid = coordinate_grid(3, 4)
    assert grid.shape == (12, 2)
    assert grid.min() == -1 and grid.max() == 1
    # Row-major: x (column 0) varies fastest, y (column 1) is constant along a row.
    np.testing.assert_allclose(grid[:4, 0], [-1, -1 / 3, 1 / 3, 1], atol=1e-6)
    assert torch.all(grid[:4, 1] == -1)


def test_field_round_trip_and_value_range():
    image = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    field = PixelField.from_image(image)
    assert field.values.shape == (35, 3) and field.values.min() >= -1 and field.values.max() <= 1
    np.testing.assert_allclose(field.image().numpy(), image, atol=1e-6)
    # Values at pixel (row 2, col 3) sit at the coordinate of that pixel.
    index = 2 * 7 + 3
    np.testing.assert_allclose(field.values[index].numpy(), image[2, 3] * 2 - 1, atol=1e-6)
    np.testing.assert_allclose(field.coords[index].numpy(), [-1 + 2 * 3 / 6, -1 + 2 * 2 / 4], atol=1e-6)


def test_to_image_clamps():
    field = PixelField.from_image(np.zeros((2, 2, 1), dtype=np.float32))
    assert field.to_image(torch.full((4, 1), 3.0)).max() == 1.0


def test_steps_per_epoch_cover_all_pixels_once():
    assert steps_per_epoch(100, None) == 1
    assert steps_per_epoch(100, 1000) == 1
    assert steps_per_epoch(100, 30) == 4
    assert steps_per_epoch(101, 10, world_size=2) == 6  # 51 pixels on the larger shard


def test_datamodule_yields_plain_step_numbers():
    field = PixelField.from_image(np.zeros((10, 10, 1), dtype=np.float32))
    datamodule = PixelFieldDataModule(field, batch_size=30)
    batches = list(datamodule.train_dataloader())
    assert batches == [0, 1, 2, 3] and all(isinstance(b, int) for b in batches)
