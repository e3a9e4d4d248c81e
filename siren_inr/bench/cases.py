"""The benchmark's cases: a network and an image at one size."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from siren_inr.compression.network.codecs import COIN_DEFAULTS
from siren_inr.errors import SirenInrError

# COIN's 10 x 28 (9 hidden layers + the first) at COIN's own Adam lr 2e-4. At the main job's lr 1e-3 this fit goes
# through Adam spikes where the PSNR after 100 steps depends on rounding: the plain loop itself moves by 1.7 dB when
# its weights are perturbed by 1e-7 (experiments/benchmark/results/cpu_coin_parity.md), so no PSNR comparison
# between two implementations means anything there; at 2e-4 the fits agree to 0.01 dB (cpu_coin_parity_lr2e-4.md).
COIN_LR = COIN_DEFAULTS.lr
COIN_OVERRIDES = [f"model.hidden_layers={COIN_DEFAULTS.hidden_layers}",
                  f"model.hidden_features={COIN_DEFAULTS.hidden_features}", f"optim.lr={COIN_LR}"]
COIN_SHAPE = (512, 768)  # Kodak: 768 x 512 (width x height)


@dataclass
class Case:
    """One network on one image; `overrides` are `siren-inr train` settings for the project's variants."""

    name: str
    image: str
    height: int
    width: int
    overrides: list[str] = field(default_factory=list)

    def load(self) -> np.ndarray:
        """The case's image, [H, W, C] in [0, 1], at the case's size."""
        from siren_inr.data import load_image

        if self.height == self.width:
            return load_image(self.image, self.height)
        image = load_image(self.image, None)
        if image.shape[:2] == (self.width, self.height):  # a portrait Kodak image: turn it, keep every pixel
            return np.ascontiguousarray(np.transpose(image, (1, 0, 2)))
        if image.shape[:2] != (self.height, self.width):
            image = resize_to(image, self.height, self.width)
        return image


def resize_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an [H, W, C] image in [0, 1] to height x width (bilinear, antialiased; aspect not kept)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    out = torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear", antialias=True,
                                          align_corners=False)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).clamp(0, 1).numpy())


def standard_cases(kodak: str | None = None, gpu: bool = False) -> dict[str, Case]:
    """The standard cases by name: SIREN 3 x 256 at 128² and 256² (512² on a GPU), COIN's 10 x 28 at 768 x 512.

    The COIN case fits `kodak` (a Kodak image file) when given, else scikit-image's astronaut resized to 768 x 512.
    """
    cases = {
        "siren128": Case("SIREN 3x256, cameraman 128²", "cameraman", 128, 128),
        "siren256": Case("SIREN 3x256, cameraman 256²", "cameraman", 256, 256),
    }
    if gpu:
        cases["siren512"] = Case("SIREN 3x256, cameraman 512²", "cameraman", 512, 512)
    image = kodak or "astronaut"
    label = image.rsplit("/", 1)[-1]
    cases["coin"] = Case(f"COIN 10x28, {label} 768x512 RGB", image, *COIN_SHAPE, list(COIN_OVERRIDES))
    return cases


def select_cases(names: list[str], kodak: str | None = None, gpu: bool = False) -> list[Case]:
    """The named standard cases, in the order given."""
    known = standard_cases(kodak, gpu)
    bad = [n for n in names if n not in known]
    if bad:
        raise SirenInrError(f"--cases {','.join(bad)}; accepted: {', '.join(known)}")
    return [known[n] for n in names]


def square_cases(sizes: list[int], image: str, overrides: list[str]) -> list[Case]:
    """Custom cases: one square size each, with the given train overrides."""
    label = " ".join(overrides) or "default model"
    return [Case(f"{label}, {image} {s}²", image, s, s, list(overrides)) for s in sizes]
