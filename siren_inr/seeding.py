"""One seeding function: the same seed gives the same initial weights, batches and numbers everywhere."""

from __future__ import annotations

import os
import random

from siren_inr.validation import check_int

MAX_SEED = 2 ** 32 - 1  # numpy's legacy seeding limit


def checked_seed(value) -> int:
    """The `seed` setting: an integer in [0, 2**32 - 1], or a one-line error naming the value."""
    return check_int("seed", value, 0, MAX_SEED)


def seed_all(seed: int) -> int:
    """Seed Python's, NumPy's and torch's generators (and dataloader workers, as Lightning reads it) with `seed`."""
    seed = int(seed)
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    os.environ["PL_SEED_WORKERS"] = "1"
    random.seed(seed)
    import numpy as np  # here, not at the top: checked_seed serves `--help`-fast command parsing
    import torch

    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed
