"""The latent codec's registry entry: its settings, encode, the decoder of its files (versions 2 and 3), its ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siren_inr.compression import container
from siren_inr.compression.codec import image_quality
from siren_inr.compression.latent.bitstream import decode_latent3, encode_latent3
from siren_inr.compression.latent.codec import decode_latent
from siren_inr.compression.latent.network import Architecture
from siren_inr.compression.latent.training import LatentTrainSettings
from siren_inr.compression.registry import InrCodec, InrEncoding


@dataclass(frozen=True)
class LatentCodecSettings:
    """latent: the architecture (everything but the image size) and the R-D training (format version 3)."""

    levels: int = 7  # latent grids at 1, 1/2, ..., 1/2**(levels-1) of the image side
    preset: str = "lop"  # decoder cost: lop, mop or hop (about 500, 1,000, 2,000 multiplications per pixel)
    synthesis: str = "sine"  # the synthesis activation: sine (sin(omega x)), 1.0-2.6 % lower R-D cost than relu
    omega: float = 4.0  # the sine's frequency (unused by relu)
    train: LatentTrainSettings = field(default_factory=LatentTrainSettings)  # the per-image R-D training

    def __post_init__(self) -> None:
        Architecture(8, 8, 3, **self.architecture())  # validates the fields

    def architecture(self) -> dict[str, Any]:
        """The Architecture fields (the image size aside)."""
        return {k: getattr(self, k) for k in ("levels", "preset", "synthesis", "omega")}


def _encode(image: np.ndarray, settings: LatentCodecSettings) -> InrEncoding:
    encoded = encode_latent3(image, settings.architecture(), settings.train)
    psnr, ssim_value = image_quality(encoded.decoded.image, image)
    info = {**encoded.info, "psnr_db": psnr, "ssim": ssim_value, "fit_seconds": encoded.info["train_seconds"],
            "num_params": encoded.info["num_weights"], "setting": _label(settings)}
    return InrEncoding(encoded.data, encoded.decoded.image_u8, info)


def _decode(parsed: container.Container, num_bytes: int):
    # Version 2 latent files (before the integer entropy model) keep decoding with their own decoder.
    return decode_latent3(parsed, num_bytes) if parsed.version >= 3 else decode_latent(parsed, num_bytes)


def _label(settings: LatentCodecSettings) -> str:
    return f"lam={settings.train.lam:g}"


def _budget(steps: int, seed: int, quant: Any, coder: str, qat: Any) -> dict[str, Any]:
    # The study's step budget and seed; its weight quantization, coder and QAT are the network codecs'.
    return {"train": {"steps": steps, "seed": seed}}


LATENT = InrCodec(
    name="latent", codec_id=2, settings_type=LatentCodecSettings, defaults=LatentCodecSettings(), encode=_encode,
    decode=_decode, container_version=3,
    ladder=tuple((f"lam={lam:g}", {"train": {"lam": lam}}) for lam in (0.02, 0.004, 0.001, 0.0004)),  # Cool-chic's
    ladder_varies=("train.lam",), point_label=_label, study_budget=_budget,
)
