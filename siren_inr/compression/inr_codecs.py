"""The INR codecs by name: coin (COIN 2021), siren_pe (Strümpler et al. 2022), latent (a Cool-chic-like codec).

    data, reconstruction, info = encode("latent", image, settings_for("latent", {"lam": 0.002}))
    decoded = siren_inr.compression.codec.decode_inr(data)   # dispatches on the file's codec id

`image` is [H, W, C] float in [0, 1]; `reconstruction` is the uint8 image the decoder gives for `data`
(the encoder decodes its own bytes); `info` holds bpp, PSNR/SSIM, where the bytes went, the decoder's
multiplications per pixel and the seconds spent. Each codec trains with its own plain-torch loop:
coin and siren_pe fit a network full-batch with Adam (siren_pe with an L1 weight penalty), tune it
through its quantized forward (qat.py) and store its entropy-coded weights; latent trains latent grids
and small networks for MSE + lambda * rate (latent/).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from siren_inr.compression.codec import encode_inr, image_quality
from siren_inr.compression.device import fit_device
from siren_inr.compression.entropy import check_coder
from siren_inr.compression.latent.bitstream import encode_latent3
from siren_inr.compression.latent.network import Architecture
from siren_inr.compression.latent.training import LatentTrainSettings
from siren_inr.compression.qat import QatSettings, quantization_aware_finetune
from siren_inr.compression.quantize import QuantSettings
from siren_inr.data import PixelField
from siren_inr.errors import SirenInrError
from siren_inr.models import build_model
from siren_inr.models.tiled import network_inputs, tiled_mse, tiled_step_for

INR_CODECS = ("coin", "siren_pe", "latent")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class NetworkCodecSettings:
    """coin / siren_pe: the network, its fit, its quantization."""

    hidden_features: int = 28
    hidden_layers: int = 9
    num_frequencies: int | None = None  # siren_pe: octaves of the positional encoding (coin: none)
    first_omega_0: float = 30.0
    hidden_omega_0: float = 30.0
    steps: int = 2000  # full-batch Adam steps
    lr: float = 2e-4
    lr_schedule: str = "constant"  # constant, or cosine (to 1 % at the last step)
    l1: float = 0.0  # weight of the L1 penalty on the weight matrices, added to the MSE on [-1, 1]
    quant: QuantSettings = QuantSettings()
    coder: str = "auto"
    qat: QatSettings = QatSettings()
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "hidden_features", "hidden_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SirenInrError(f"inr_codec {name}={value!r}; accepted: a positive integer")
        for name, positive in (("lr", True), ("l1", False)):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0 or (positive and value == 0):
                raise SirenInrError(f"inr_codec {name}={value!r}; accepted: a {'positive' if positive else 'non-negative'} number")
        if self.lr_schedule not in LR_SCHEDULES:
            raise SirenInrError(f"inr_codec lr_schedule={self.lr_schedule!r}; accepted: {', '.join(LR_SCHEDULES)}")
        check_coder(self.coder, byte_payload=self.quant.mode != "uniform")


@dataclass(frozen=True)
class LatentCodecSettings:
    """latent: the architecture (everything but the image size) and the R-D training (format version 3)."""

    levels: int = 7  # latent grids at 1, 1/2, ..., 1/2**(levels-1) of the image side
    preset: str = "lop"  # decoder cost: lop, mop or hop (about 500, 1,000, 2,000 multiplications per pixel)
    synthesis: str = "sine"  # the synthesis activation: sine (sin(omega x)), 1.0-2.6 % lower R-D cost than relu
    omega: float = 4.0  # the sine's frequency (unused by relu)
    train: LatentTrainSettings = field(default_factory=LatentTrainSettings)

    def __post_init__(self) -> None:
        Architecture(8, 8, 3, **self.architecture())  # validates the fields

    def architecture(self) -> dict[str, Any]:
        """The Architecture fields (the image size aside)."""
        return {k: getattr(self, k) for k in ("levels", "preset", "synthesis", "omega")}


DEFAULTS: dict[str, Any] = {
    "coin": NetworkCodecSettings(),
    "siren_pe": NetworkCodecSettings(hidden_features=32, hidden_layers=3, num_frequencies=8, steps=2000, lr=1e-3,
                                     lr_schedule="cosine", l1=1e-5),
    "latent": LatentCodecSettings(),
}


# A study's points per codec: (label, overrides of the codec's settings). coin's points are the study's own
# ladder of COIN networks. siren_pe's widths span ~0.1-0.6 bpp on 768x512; latent's lambdas are Cool-chic's.
LADDERS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "siren_pe": [(f"{d}x{w}", {"hidden_layers": d, "hidden_features": w}) for d, w in ((3, 32), (3, 48), (3, 64), (3, 96))],
    "latent": [(f"lam={lam:g}", {"train": {"lam": lam}}) for lam in (0.02, 0.004, 0.001, 0.0004)],  # Cool-chic's
}


def point_label(codec: str, settings: Any) -> str:
    """A study point's name: lam=... for latent, layers x width for the network codecs."""
    if codec == "latent":
        return f"lam={settings.train.lam:g}"
    return f"{settings.hidden_layers}x{settings.hidden_features}"


def study_points(codec: str, base: dict[str, Any], ladder: list[dict[str, Any]] | None = None) -> list[tuple[str, Any]]:
    """(label, settings) of each point of a study: `base` overrides for every point, merged under each point's
    overrides (`ladder`; None: LADDERS[codec]). Bad settings and two points of the same label are SirenInrErrors."""
    if ladder is None:
        ladder = [overrides for _, overrides in LADDERS[check_codec_name(codec)]]
    if not isinstance(ladder, list) or not ladder or not all(isinstance(p, dict) for p in ladder):
        raise SirenInrError(f"inr_ladders.{codec}={ladder!r}; accepted: a non-empty list of mappings of {codec} settings")
    points, seen = [], set()
    for overrides in ladder:
        settings = settings_for(codec, merged(base, overrides))
        label = point_label(codec, settings)
        if label in seen:
            raise SirenInrError(f"inr_ladders.{codec} has two points named {label}; each needs its own "
                                f"{'train.lam' if codec == 'latent' else 'hidden_layers x hidden_features'}")
        seen.add(label)
        points.append((label, settings))
    return points


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra`'s keys, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class InrEncoding(NamedTuple):
    """What `encode` returns: the file, the decoder's image, and the numbers."""

    data: bytes
    reconstruction: np.ndarray  # [H, W, C] uint8, exactly what decoding `data` gives
    info: dict[str, Any]


def check_codec_name(name: Any) -> str:
    """The name if it is an INR codec, else a SirenInrError listing them."""
    if not isinstance(name, str) or name not in INR_CODECS:
        raise SirenInrError(f"inr_codec={name!r} is not known; accepted: {', '.join(INR_CODECS)}")
    return name


def settings_for(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The codec's default settings with `overrides` (flat keys; quant/qat/train as nested mappings)."""
    base = DEFAULTS[check_codec_name(name)]
    values = dict(overrides or {})
    values.pop("name", None)
    nested = {"quant": QuantSettings, "qat": QatSettings, "train": LatentTrainSettings}
    accepted = [f.name for f in dataclasses.fields(base)]
    unknown = sorted(set(values) - set(accepted))
    if unknown:
        raise SirenInrError(f"inr_codec {name}: unknown setting(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    for key, cls in nested.items():
        if key in values and isinstance(values[key], dict):
            inner = [f.name for f in dataclasses.fields(cls)]
            bad = sorted(set(values[key]) - set(inner))
            if bad:
                raise SirenInrError(f"inr_codec {name}: unknown {key} setting(s) {', '.join(bad)}; accepted: {', '.join(inner)}")
            values[key] = dataclasses.replace(getattr(base, key), **values[key])
    if name == "coin" and values.get("num_frequencies") is not None:
        raise SirenInrError("inr_codec coin: num_frequencies must be null (coin feeds the raw coordinates)")
    try:
        return dataclasses.replace(base, **values)
    except TypeError as err:
        raise SirenInrError(f"inr_codec {name}: {err}") from None


def network_multiplications_per_pixel(model: nn.Module) -> float:
    """Multiplications per pixel of a coordinate network: its matrices, its omega_0 scalings, its encoding."""
    total = 0
    for module in model.modules():
        if isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
        if hasattr(module, "omega_0"):
            total += module.linear.out_features
        if hasattr(module, "num_frequencies") and hasattr(module, "in_features"):
            total += module.in_features * module.num_frequencies  # the angles 2^i pi x
    return float(total)


def fit_network(model: nn.Module, field_: PixelField, settings: NetworkCodecSettings) -> float:
    """Full-batch Adam on the MSE (+ L1 on weight matrices); returns the seconds spent."""
    started = time.perf_counter()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    total = settings.steps
    factor = (lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * s / total))) if settings.lr_schedule == "cosine" else (lambda s: 1.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    # On the CPU a SIREN's step runs in cache-sized pixel tiles (models/tiled.py): the same loss and gradients.
    tiled = tiled_step_for(model, field_.coords)
    inputs = network_inputs(model, field_.coords) if tiled is not None else None
    for _ in range(total):
        if tiled is not None:
            loss = tiled_mse(tiled, inputs, field_.values)
        else:
            loss = torch.mean((model(field_.coords) - field_.values) ** 2)
        if settings.l1:
            loss = loss + settings.l1 * sum(p.abs().sum() for p in matrices)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return time.perf_counter() - started


def _encode_network(name: str, image: np.ndarray, settings: NetworkCodecSettings) -> InrEncoding:
    height, width, channels = image.shape
    hparams = {"in_features": 2, "out_features": channels, "hidden_features": settings.hidden_features,
               "hidden_layers": settings.hidden_layers, "first_omega_0": settings.first_omega_0,
               "hidden_omega_0": settings.hidden_omega_0}
    arch = "siren"
    if name == "siren_pe":
        arch, hparams["num_frequencies"] = "siren_pe", 8 if settings.num_frequencies is None else settings.num_frequencies
    device = fit_device()
    field_ = PixelField.from_image(image)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = build_model(arch, hparams)  # initialised on the CPU: the same weights on any machine
        if device.type != "cpu":
            model, field_ = model.to(device), field_.to(device)
        fit_seconds = fit_network(model, field_, settings)
        before = after = float("nan")
        started = time.perf_counter()
        if settings.qat.steps and settings.quant.mode != "fp32":
            tuned = quantization_aware_finetune(model, field_, settings.quant, settings.qat)
            model, before, after = tuned.model, tuned.psnr_before_db, tuned.psnr_after_db
        qat_seconds = time.perf_counter() - started
    encoded = encode_inr(model.cpu().eval(), height, width, channels, settings.quant, settings.coder, reference=image,
                         codec=name)
    info = {"codec": name, "num_bytes": encoded.num_bytes, "bpp": encoded.bpp, "psnr_db": encoded.psnr_db,
            "ssim": encoded.ssim, "num_params": int(sum(p.numel() for p in model.parameters())),
            "entropy_method": encoded.decoded.method, "quant_psnr_db_before_qat": before,
            "quant_psnr_db_after_qat": after, "multiplications_per_pixel": network_multiplications_per_pixel(model),
            "fit_seconds": fit_seconds, "qat_seconds": qat_seconds, "steps": settings.steps,
            "setting": f"{settings.hidden_layers}x{settings.hidden_features}"}
    return InrEncoding(encoded.data, encoded.decoded.image_u8, info)


def _encode_latent(image: np.ndarray, settings: LatentCodecSettings) -> InrEncoding:
    encoded = encode_latent3(image, settings.architecture(), settings.train)
    psnr, ssim_value = image_quality(encoded.decoded.image, image)
    info = {**encoded.info, "psnr_db": psnr, "ssim": ssim_value, "fit_seconds": encoded.info["train_seconds"],
            "num_params": encoded.info["num_weights"], "setting": f"lam={settings.train.lam:g}"}
    return InrEncoding(encoded.data, encoded.decoded.image_u8, info)


def encode(name: str, image: np.ndarray, settings: Any = None) -> InrEncoding:
    """Encode an image [H, W, C] in [0, 1] with the INR codec `name` (default settings when None)."""
    name = check_codec_name(name)
    settings = DEFAULTS[name] if settings is None else settings
    expected = LatentCodecSettings if name == "latent" else NetworkCodecSettings
    if not isinstance(settings, expected):
        raise SirenInrError(f"inr_codec {name} takes {expected.__name__}, got {type(settings).__name__}")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or not 1 <= image.shape[2] <= 4 or min(image.shape[:2]) < 1:
        raise SirenInrError(f"image of shape {image.shape}; accepted: [H, W, C] with 1-4 channels")
    if name == "latent":
        return _encode_latent(image, settings)
    return _encode_network(name, image, settings)
