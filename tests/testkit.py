"""Helpers importable from any test module (tests/ is on sys.path): tiny images and SIRENs, the real CLI, stores,
damaged copies of codec files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from siren_inr.errors import SirenInrError

REPO = Path(__file__).resolve().parents[1]


def smooth_image(size: int = 24, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A smooth test image [H, W, C] in [0, 1] (low frequencies, so tiny fits make progress)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    planes = []
    for _ in range(channels):
        a, b, c = rng.uniform(1, 3, size=3)
        planes.append(0.5 + 0.4 * np.sin(a * np.pi * x + c) * np.cos(b * np.pi * y))
    return np.stack(planes, axis=-1).astype(np.float32)


SMALL_SIREN = dict(in_features=2, out_features=1, hidden_features=16, hidden_layers=2)


def small_siren(seed: int = 0, **overrides):
    """A registry SIREN of SMALL_SIREN's sizes (with `overrides`), its weights drawn from `seed`."""
    import torch

    from siren_inr.models import build_model

    torch.manual_seed(seed)
    return build_model("siren", **{**SMALL_SIREN, **overrides})


def random_coords(n: int = 300, seed: int = 1):
    """n points [n, 2] uniform in [-1, 1]^2, from their own generator (the global seed is left alone)."""
    import torch

    return torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def assert_refuses_damage(decode, data: bytes, flips: int | None = None, cuts: int | None = None) -> None:
    """`decode` raises SirenInrError on every copy of `data` with one bit flipped and on every truncation; with
    `flips` (`cuts`), on that many bits drawn at random (seed 0) only (on that many evenly spaced truncations)."""
    bits = range(len(data) * 8) if flips is None else np.random.default_rng(0).choice(len(data) * 8, flips, False)
    for bit in bits:
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SirenInrError):
            decode(bytes(damaged))
    ends = range(len(data)) if cuts is None else sorted(set(np.linspace(0, len(data) - 1, cuts).astype(int)))
    for cut in ends:
        with pytest.raises(SirenInrError):
            decode(data[:cut])


def run_cli(args: list[str], cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m siren_inr <args>` as a user would, capturing its output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("SIREN_INR_FAILURES", None)
    return subprocess.run([sys.executable, "-m", "siren_inr", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def console_script() -> str:
    """The `siren-inr` console script of the environment running the tests (not whichever one PATH finds first:
    `make test PYTHON=venv/bin/python` does not put the venv on PATH)."""
    import shutil
    import sysconfig

    script = Path(sysconfig.get_path("scripts")) / "siren-inr"
    if script.is_file():
        return str(script)
    found = shutil.which("siren-inr")  # e.g. a pip --user install, whose scripts lie elsewhere
    assert found, f"no siren-inr console script in {script.parent} or on PATH: install the package (make setup)"
    return found


def run_main(args: list[str], cwd: Path, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """`siren-inr <args>` run in this process from cwd, as run_cli reports it: for checks of a command's answer
    (one-line errors, files left alone) that need no process of their own, without a subprocess's ~10 s of start-up.
    What the command changes of the process (signal handlers, sys.stdout) is put back."""
    import signal

    from siren_inr.cli.main import main

    monkeypatch.chdir(cwd)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    stdout = sys.stdout
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.stdout = stdout
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(["siren-inr", *args], code, captured.out, captured.err)


def store_uri(folder: Path) -> str:
    """The default store's URI for a working directory."""
    return f"sqlite:///{(folder / 'mlruns' / 'mlflow.db').resolve()}"


def process_children(pid: int) -> list[int]:
    """Processes whose parent is pid, zombies included (Linux, from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def process_alive(pid: int) -> bool:
    """Whether pid is a process that has not ended (a zombie waiting to be reaped has ended; Linux, /proc)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (OSError, IndexError):
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
