"""What the benchmark measures besides time: peak tensor memory, the arithmetic of a step, the machine."""

from __future__ import annotations

import platform

import torch
from torch import nn

MIB = 1024.0 ** 2


class MemoryProbe:
    """Peak tensor memory of a stretch of work, above what was live at its start.

    GPU: the CUDA caching allocator's peak statistics. CPU: PyTorch's profiler records every tensor
    allocation and free (profile_memory=True); replaying them in time order gives the exact peak of
    live tensor bytes. (The process RSS high-water mark was tried first: Linux updates it lazily and
    it read 8 to 20 MiB for identical 40 MiB steps.) Python objects and allocator slack are not counted.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == "cuda"
        self._start = 0
        self._profiler = None

    def start(self) -> None:
        """Begin a stretch."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return
        from torch.profiler import ProfilerActivity, profile

        self._profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        self._profiler.__enter__()

    def peak_growth_bytes(self) -> int:
        """Peak bytes above the stretch's start (ends the stretch)."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self._start
        profiler, self._profiler = self._profiler, None
        if profiler is None:
            return 0
        profiler.__exit__(None, None, None)
        events = [e for e in profiler.profiler.kineto_results.events() if e.name() == "[memory]"]
        events.sort(key=lambda e: e.start_ns())
        live = peak = 0
        for event in events:
            live += event.nbytes()
            peak = max(peak, live)
        return peak


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    """The network's linear layers in order of definition (input first for an MLP)."""
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def step_flops(layer_sizes: list[tuple[int, int]], pixels: int) -> float:
    """Matmul FLOPs of one full-batch training step of an MLP with these (in, out) layer sizes.

    Forward 2 N in out per layer; backward 2 N in out for the weight gradient and, except for the first
    layer (whose input, the coordinates, needs no gradient), 2 N in out for the input gradient.
    Elementwise work (sines, the loss, Adam) is not counted: the figure is the matmul arithmetic only.
    """
    total = 0.0
    for index, (fan_in, fan_out) in enumerate(layer_sizes):
        total += (4.0 if index == 0 else 6.0) * pixels * fan_in * fan_out
    return total


def net_layer_sizes(net: nn.Module) -> list[tuple[int, int]]:
    """(in, out) of each linear layer of `net`, input first."""
    return [(m.in_features, m.out_features) for m in linear_layers(net)]


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device: torch.device) -> str:
    """One line naming the machine the numbers come from."""
    import os

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.1f} at start"
    return (f"{cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} (CPU), "
            f"Python {platform.python_version()}{load}")
