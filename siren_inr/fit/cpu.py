"""Process settings for fitting on a CPU: glibc's allocator kept from unmapping activations, threads from the work.

Why the allocator: a full-batch step writes one fresh activation of pixels x width floats per layer (44 MB
for COIN's 10 x 28 net on a 768 x 512 image). glibc serves blocks above its mmap threshold (128 KiB at first,
growing to at most 32 MiB) with a fresh mmap and hands them back with munmap on free, so every step
page-faults each activation in again, zero-filled by the kernel: millions of minor faults and seconds of
system time per step. Raising the mmap threshold and the trim threshold keeps freed blocks in the heap,
where the next step reuses them. Nothing computed changes: the same kernels run on the same numbers.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os

import torch

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 1 << 30  # blocks below 1 GiB come from the heap and go back to it
TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # never shrink the heap top during a fit (mallopt takes an int)

# Setting this environment variable to 0 leaves the allocator as glibc starts it (e.g. to measure the gain).
ENV_SWITCH = "SIREN_INR_MALLOC_TUNING"

# Below this many elements per layer activation, an op takes well under a millisecond: OpenMP's fork and
# barrier cost more than a second core gives back, so such fits run on one thread.
ELEMENTS_PER_EXTRA_THREAD = 1 << 18

_applied: dict[str, int] | None = None
_TORCH_DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice (physical cores), before anyone sets it


def tune_allocator() -> dict[str, int]:
    """Keep large freed blocks in the process heap (glibc only; elsewhere, and when switched off, nothing).

    Returns the mallopt parameters that were set (empty when none were). Idempotent.
    """
    global _applied
    if _applied is not None:
        return dict(_applied)
    _applied = {}
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return {}
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return {}
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    for key, param, value in (("M_MMAP_THRESHOLD", M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
                              ("M_TRIM_THRESHOLD", M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)):
        if mallopt(param, value) == 1:
            _applied[key] = value
    return dict(_applied)


def threads_for(activation_elements: int, cores: int | None = None) -> int:
    """CPU threads for a fit whose layer activations hold this many elements: 1 for tiny work, else all cores."""
    cores = cores or _TORCH_DEFAULT_THREADS
    if activation_elements < ELEMENTS_PER_EXTRA_THREAD:
        return 1
    return max(1, min(cores, activation_elements // ELEMENTS_PER_EXTRA_THREAD))


def default_threads(pixels_per_step: int, net: torch.nn.Module) -> int:
    """The thread count a CPU fit of `net` on `pixels_per_step` pixels uses when none is set."""
    widths = [m.out_features for m in net.modules() if isinstance(m, torch.nn.Linear)]
    return threads_for(pixels_per_step * max(widths, default=1))


@contextlib.contextmanager
def fit_threads(settings, pixels_per_step: int, net: torch.nn.Module):
    """Run a CPU fit on `settings.num_threads` threads, or when unset on `default_threads`; restore after."""
    if settings.num_threads or settings.device() != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(default_threads(pixels_per_step, net))
    try:
        yield
    finally:
        torch.set_num_threads(before)
