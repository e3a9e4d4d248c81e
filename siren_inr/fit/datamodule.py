"""The LightningDataModule: the field stays on the device, batches are only step numbers."""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from siren_inr.data.field import PixelField


class _StepNumbers(Dataset):
    """Yields 0..steps-1: the module draws its pixels on the device, so no image data crosses per step."""

    def __init__(self, steps: int):
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> int:
        return index


def steps_per_epoch(num_pixels: int, batch_size: int | None, world_size: int = 1) -> int:
    """Optimizer steps in one pass over one process's share of the pixels."""
    shard = -(-num_pixels // world_size)
    if batch_size is None or batch_size >= shard:
        return 1
    return -(-shard // batch_size)


def _identity(item):
    return item


class PixelFieldDataModule(pl.LightningDataModule):
    """One epoch = one pass over all pixels: ceil(pixels per process / batch size) steps."""

    def __init__(self, field: PixelField, batch_size: int | None = None):
        super().__init__()
        self.field = field
        self.batch_size = batch_size

    def steps_per_epoch(self, world_size: int = 1) -> int:
        """Steps in one pass over one process's share of the pixels."""
        return steps_per_epoch(self.field.num_pixels, self.batch_size, world_size)

    def train_dataloader(self) -> DataLoader:
        world = self.trainer.world_size if self.trainer is not None else 1
        # batch_size=None + identity collate: the batch is a plain int, which Lightning leaves on the host.
        return DataLoader(_StepNumbers(self.steps_per_epoch(world)), batch_size=None, shuffle=False,
                          num_workers=0, collate_fn=_identity)
