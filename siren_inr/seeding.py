"""One seeding function: the same seed gives the same initial weights, batches and numbers everywhere."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

MAX_SEED = 2 ** 32 - 1  # numpy's legacy seeding limit


def seed_all(seed: int) -> int:
    """Seed Python's, NumPy's and torch's generators (and dataloader workers, as Lightning reads it) with `seed`."""
    seed = int(seed)
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    os.environ["PL_SEED_WORKERS"] = "1"
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed
