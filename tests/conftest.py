"""Fixtures shared across the suite (helpers live in testkit.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from testkit import run_cli, run_main, smooth_image

# Tiny networks run many times faster on one thread than on two busy cores; subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def one_thread_session():
    """Every in-process fit on one thread (see OMP_NUM_THREADS above)."""
    import torch

    torch.set_num_threads(1)
    yield


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



@pytest.fixture
def in_process(monkeypatch, capsys):
    """The CLI in this process: in_process(args, cwd) -> CompletedProcess (testkit.run_main)."""
    return lambda args, cwd: run_main(args, cwd, monkeypatch, capsys)
