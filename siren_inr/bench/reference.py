"""The plain reference loop in its own `python` process, driven one step at a time (see plain_loop.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from siren_inr.bench import plain_loop
from siren_inr.errors import SirenInrError

SCRIPT = Path(plain_loop.__file__)


def initial_environment() -> dict[str, str]:
    """The environment this process was started with, before the project changed any of it.

    Linux keeps it in /proc/self/environ; elsewhere the current environment is the best there is.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[os.fsdecode(key)] = os.fsdecode(value)
    return env


class PlainLoopProcess:
    """A `python plain_loop.py` child with the user's start-up environment and torch's default settings."""

    def __init__(self, python: str | None = None):
        self.process = subprocess.Popen(
            [python or sys.executable, str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=initial_environment(), text=True, bufsize=1, cwd=tempfile.gettempdir())
        self._tmp = tempfile.TemporaryDirectory(prefix="siren-bench-plain-")

    def _ask(self, **request) -> dict:
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            code = self.process.wait()
            raise SirenInrError(f"the plain reference loop process ended (exit code {code}) at {request['cmd']!r}")
        reply = json.loads(line)
        if "error" in reply:
            raise SirenInrError(f"plain reference loop: {reply['error']}")
        return reply

    def load(self, net: torch.nn.Module, sizes: dict, coords: torch.Tensor, values: torch.Tensor, lr: float,
             device: str = "cpu") -> None:
        """Start a fit from `net`'s current linear weights (copied) on the given pixel field."""
        from siren_inr.bench.probes import linear_layers

        linears = [(m.weight.detach().cpu().clone(), m.bias.detach().cpu().clone()) for m in linear_layers(net)]
        path = Path(self._tmp.name) / "spec.pt"
        torch.save({"sizes": sizes, "linears": linears, "coords": coords.cpu(), "values": values.cpu(), "lr": lr,
                    "device": device}, path)
        self._ask(cmd="load", path=str(path))
        path.unlink()

    def step(self) -> dict:
        """One reference step: {ms, cpu_ms, loss}."""
        return self._ask(cmd="step")

    def steps(self, n: int) -> float:
        """n reference steps as one block; ms in all."""
        return float(self._ask(cmd="steps", n=n)["ms"])

    def psnr(self) -> float:
        """PSNR (dB) of the reference fit's current weights on the whole image."""
        return float(self._ask(cmd="psnr")["psnr"])

    def sgemm_gflops(self, n: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
        """The machine's fp32 matmul throughput as a plain process sees it."""
        return float(self._ask(cmd="sgemm", n=n, repeats=repeats, device=device)["gflops"])

    def info(self) -> dict:
        """torch version and thread count of the plain process."""
        return self._ask(cmd="info")

    def close(self) -> None:
        """End the child process."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._tmp.cleanup()

    def __enter__(self) -> "PlainLoopProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def siren_sizes(hparams: dict, channels: int) -> dict:
    """The reference network's sizes for a project SIREN's hyperparameters."""
    return {"in": int(hparams.get("in_features", 2)), "out": channels, "width": int(hparams["hidden_features"]),
            "hidden_layers": int(hparams["hidden_layers"]), "omega_0": float(hparams.get("hidden_omega_0", 30.0)),
            "first_omega_0": float(hparams.get("first_omega_0", 30.0))}
