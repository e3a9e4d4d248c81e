"""The reference fit as a user's own script would write it: plain PyTorch, default settings, nothing else.

The benchmark runs this file as a separate `python plain_loop.py` process, so none of the settings the
project applies to its own process (the allocator, the thread count, environment variables) reach it.
It imports only the standard library and torch, and is driven one step at a time over its stdin/stdout
(JSON lines), so its steps can be interleaved with the project's:

  {"cmd": "load", "path": ...}   read the weights, coordinates, values and lr written by the benchmark
  {"cmd": "step"}                one full-batch Adam step; reply {"ms", "cpu_ms", "loss"}
  {"cmd": "steps", "n": N}       N steps timed as one block (one device sync at each end); reply {"ms"}
  {"cmd": "psnr"}                PSNR of the current weights on the whole image, [0, 1] range; reply {"psnr"}
  {"cmd": "sgemm", "n": N}       best-of-several fp32 N x N x N matmul throughput; reply {"gflops"}
  {"cmd": "info"}                torch version, thread count and environment; reply {"torch", "threads", "environ"}
  {"cmd": "quit"}
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import torch
from torch import nn


class ReferenceSiren(nn.Module):
    """The reference network: sin(omega (W x + b)) layers and a linear output (the SIREN paper's code, restated)."""

    def __init__(self, in_features: int, out_features: int, hidden_features: int, hidden_layers: int,
                 omega_0: float = 30.0, first_omega_0: float | None = None):
        super().__init__()
        sizes = [in_features] + [hidden_features] * (hidden_layers + 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(hidden_features, out_features)
        self.omega_0 = omega_0
        self.first_omega_0 = omega_0 if first_omega_0 is None else first_omega_0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.hidden):
            x = torch.sin((self.first_omega_0 if i == 0 else self.omega_0) * layer(x))
        return self.out(x)

    def linears(self) -> list[nn.Linear]:
        """The linear layers in order, input first."""
        return list(self.hidden) + [self.out]

    def load_linears(self, weights: list[tuple[torch.Tensor, torch.Tensor]]) -> "ReferenceSiren":
        """Copy (weight, bias) pairs into the layers, input first, so both fits start identical."""
        mine = self.linears()
        if len(mine) != len(weights):
            raise ValueError(f"reference has {len(mine)} linear layers, given {len(weights)}")
        with torch.no_grad():
            for dst, (weight, bias) in zip(mine, weights):
                dst.weight.copy_(weight)
                dst.bias.copy_(bias)
        return self


class PlainFit:
    """The reference loop: full batch, Adam, fp32, the loss read on the host every step."""

    def __init__(self, spec: dict):
        self.device = torch.device(spec.get("device", "cpu"))
        sizes = spec["sizes"]
        self.net = ReferenceSiren(sizes["in"], sizes["out"], sizes["width"], sizes["hidden_layers"],
                                  sizes["omega_0"], sizes["first_omega_0"])
        self.net.load_linears(spec["linears"]).to(self.device)
        self.coords = spec["coords"].to(self.device)
        self.values = spec["values"].to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=spec["lr"])

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _step(self) -> float:
        out = self.net(self.coords)
        loss = torch.mean((out - self.values) ** 2)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def step(self) -> dict:
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = self._step()
        self._sync()
        return {"ms": (time.perf_counter() - start) * 1e3, "cpu_ms": (time.process_time() - cpu_start) * 1e3,
                "loss": loss}

    def steps(self, n: int) -> dict:
        self._sync()
        start = time.perf_counter()
        for _ in range(n):
            out = self.net(self.coords)
            loss = torch.mean((out - self.values) ** 2)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self._sync()
        return {"ms": (time.perf_counter() - start) * 1e3}

    @torch.no_grad()
    def psnr(self) -> dict:
        pred = ((self.net(self.coords) + 1.0) * 0.5).clamp(0, 1)
        truth = ((self.values + 1.0) * 0.5).clamp(0, 1)
        mse = torch.mean((pred - truth) ** 2).item()
        return {"psnr": 10.0 * math.log10(1.0 / mse) if mse > 0 else float("inf")}


def sgemm_gflops(n: int = 2048, repeats: int = 5, device: str = "cpu") -> float:
    """Best achieved fp32 throughput of an n x n by n x n matmul (2 n^3 FLOP), in GFLOP/s."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        if device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


def serve(stdin=sys.stdin, stdout=sys.stdout) -> None:
    """Answer commands, one JSON object a line, until quit or end of input."""
    fit: PlainFit | None = None
    for line in stdin:
        request = json.loads(line)
        cmd = request["cmd"]
        if cmd == "quit":
            break
        if cmd == "load":
            fit = PlainFit(torch.load(request["path"], weights_only=True))
            reply = {"ok": True}
        elif cmd == "step":
            reply = fit.step()
        elif cmd == "steps":
            reply = fit.steps(int(request["n"]))
        elif cmd == "psnr":
            reply = fit.psnr()
        elif cmd == "sgemm":
            reply = {"gflops": sgemm_gflops(int(request.get("n", 2048)), int(request.get("repeats", 5)),
                                            request.get("device", "cpu"))}
        elif cmd == "info":
            reply = {"torch": torch.__version__, "threads": torch.get_num_threads(), "environ": dict(os.environ)}
        else:
            reply = {"error": f"unknown command {cmd!r}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()


if __name__ == "__main__":
    serve()
