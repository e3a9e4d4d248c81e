"""Where the INR codecs' own fits run: the first GPU when there is one, else the CPU.

coin's study fits go through Lightning (fit/); siren_pe and latent train with plain torch loops that
move their networks, latents and pixels here for the fit and back to the CPU before quantization and
coding, so files are always written (and checked against their own decoding) by CPU code. On a CPU
machine nothing moves, and reruns stay bit-identical.
"""

from __future__ import annotations

import torch


def fit_device() -> torch.device:
    """cuda:0 when CUDA is available, else cpu."""
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
