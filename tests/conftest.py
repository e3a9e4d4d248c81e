"""Fixtures shared across the suite (helpers live in testkit.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from testkit import run_cli, smooth_image


@pytest.fixture
def tiny_png(tmp_path: Path) -> Path:
    """A 24x24 greyscale PNG file."""
    path = tmp_path / "tiny.png"
    Image.fromarray((smooth_image(24)[..., 0] * 255).round().astype(np.uint8)).save(path)
    return path


@pytest.fixture
def cli():
    """The real CLI in a subprocess: cli(args, cwd) -> CompletedProcess."""
    return run_cli
