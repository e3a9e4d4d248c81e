"""coin and siren_pe: fit a coordinate network to the pixels, tune it through its quantized forward, store its
entropy-coded weights (compression/codec.py writes and reads the file; these are its two registered codecs).

coin (COIN 2021) is the SIREN on raw coordinates that `compress` has always written (format version 1); the
commands fit its network themselves (`onto_command`: compress's train-job fit or a tracked run's weights, rd's
batched ladder), so its settings become the command's. siren_pe (Strümpler et al. 2022) feeds a positional
encoding into a SIREN, adds an L1 weight penalty and trains here, with `fit_network` (format version 2).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from siren_inr.compression.codec import decode_network, encode_inr
from siren_inr.compression.device import fit_device
from siren_inr.compression.entropy import check_coder
from siren_inr.compression.qat import QatSettings, quantization_aware_finetune
from siren_inr.compression.quantize import QuantSettings
from siren_inr.compression.registry import InrCodec, InrEncoding
from siren_inr.data import PixelField
from siren_inr.errors import SirenInrError
from siren_inr.validation import check_choice, check_number, check_positive_int, check_positive_number
from siren_inr.fit.core import adam_with_schedule, full_batch_fit
from siren_inr.models import build_model

FIT_SCHEDULES = {"constant": "none", "cosine": "cosine"}  # a codec's lr_schedule -> the fitting core's schedule
LR_SCHEDULES = tuple(FIT_SCHEDULES)
COSINE_FLOOR = 0.01  # the cosine schedule ends at 1 % of the learning rate


@dataclass(frozen=True)
class NetworkCodecSettings:
    """coin / siren_pe: the network, its fit, its quantization."""

    hidden_features: int = 28  # width of the hidden layers: the rate knob, with hidden_layers
    hidden_layers: int = 9  # hidden layers after the first sine layer
    num_frequencies: int | None = None  # siren_pe: octaves L of the positional encoding (coin: none)
    first_omega_0: float = 30.0  # SIREN omega_0 of the first sine layer
    hidden_omega_0: float = 30.0  # SIREN omega_0 of the hidden sine layers
    steps: int = 2000  # full-batch Adam steps
    lr: float = 2e-4  # Adam's learning rate
    lr_schedule: str = "constant"  # constant, or cosine (to 1 % at the last step)
    l1: float = 0.0  # weight of the L1 penalty on the weight matrices, added to the MSE on [-1, 1]
    quant: QuantSettings = QuantSettings()  # how the weights are stored
    coder: str = "auto"  # entropy coder: auto (the smallest of raw, zlib, lzma, range, range-tensor, range-gauss)
    qat: QatSettings = QatSettings()  # quantization-aware tuning after the fit
    seed: int = 0  # seeds the network's initialisation

    def __post_init__(self) -> None:
        for name in ("steps", "hidden_features", "hidden_layers"):
            check_positive_int(f"inr_codec {name}", getattr(self, name))
        check_positive_number("inr_codec lr", self.lr)
        check_number("inr_codec l1", self.l1, 0)
        check_choice("inr_codec lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_coder(self.coder, byte_payload=self.quant.mode != "uniform")


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
    """Full-batch Adam on the MSE (+ L1 on weight matrices), through the fitting core; returns the seconds spent."""
    optimizer, schedule = adam_with_schedule(model.parameters(), lr=settings.lr,
                                             schedule=FIT_SCHEDULES[settings.lr_schedule],
                                             total_steps=settings.steps, lr_min=COSINE_FLOOR * settings.lr)
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    penalty = (lambda: settings.l1 * sum(p.abs().sum() for p in matrices)) if settings.l1 else None
    return full_batch_fit(model, field_.coords, field_.values, optimizer, schedule, settings.steps, penalty)


def encode_network(codec: str, arch: str, extra_hparams: dict[str, Any], image: np.ndarray,
                   settings: NetworkCodecSettings) -> InrEncoding:
    """Fit the registered model `arch` (SIREN hyperparameters from `settings`, plus `extra_hparams`), tune it
    through the quantized forward and write it as a file of `codec`."""
    height, width, channels = image.shape
    hparams = {"in_features": 2, "out_features": channels, "hidden_features": settings.hidden_features,
               "hidden_layers": settings.hidden_layers, "first_omega_0": settings.first_omega_0,
               "hidden_omega_0": settings.hidden_omega_0, **extra_hparams}
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
                         codec=codec)
    info = {"codec": codec, "num_bytes": encoded.num_bytes, "bpp": encoded.bpp, "psnr_db": encoded.psnr_db,
            "ssim": encoded.ssim, "num_params": int(sum(p.numel() for p in model.parameters())),
            "entropy_method": encoded.decoded.method, "quant_psnr_db_before_qat": before,
            "quant_psnr_db_after_qat": after, "multiplications_per_pixel": network_multiplications_per_pixel(model),
            "fit_seconds": fit_seconds, "qat_seconds": qat_seconds, "steps": settings.steps,
            "setting": network_label(settings)}
    return InrEncoding(encoded.data, encoded.decoded.image_u8, info)


def network_label(settings: NetworkCodecSettings) -> str:
    """A study point's name: hidden layers x width ('9x28' is COIN's "10x28", which counts the first layer)."""
    return f"{settings.hidden_layers}x{settings.hidden_features}"


def _network_budget(steps: int, seed: int, quant: QuantSettings, coder: str, qat: QatSettings) -> dict[str, Any]:
    return {"steps": steps, "seed": seed, "coder": coder, "quant": asdict(quant), "qat": asdict(qat)}


# --- coin ----------------------------------------------------------------------------------------------------

COIN_DEFAULTS = NetworkCodecSettings()
# COIN's networks, named "5x20 ... 13x49" in the paper, where the count includes the first sine layer. In this
# package's convention (hidden_layers = sine layers after the first) they are 4x20 ... 12x49: 1803, 3903, 7479,
# 15003 and 29697 parameters, i.e. fp16 bpp 0.073, 0.159, 0.304, 0.610, 1.208 on 768x512, COIN's rate axis.
COIN_NETWORKS = ((4, 20), (4, 30), (9, 28), (9, 40), (12, 49))
_COIN_MODEL_KEYS = ("hidden_features", "hidden_layers", "first_omega_0", "hidden_omega_0")
_COIN_QAT_KEYS = {"steps": "qat_steps", "lr": "qat_lr", "eval_every": "qat_eval_every"}


# coin's settings that state a command's own (conf/inr_codec/coin.yaml): a bad value names both
_COIN_COMMAND_NAMES = {"hidden_features": "model.hidden_features", "hidden_layers": "model.hidden_layers",
                       "steps": "num_epochs", "lr": "optim.lr"}


def _check_coin(values: dict[str, Any]) -> None:
    if values.get("num_frequencies") is not None:
        raise SirenInrError("inr_codec coin: num_frequencies must be null (coin feeds the raw coordinates)")
    for key, command_name in _COIN_COMMAND_NAMES.items():
        if key in values:
            try:
                dataclasses.replace(COIN_DEFAULTS, **{key: values[key]})
            except SirenInrError as err:
                raise SirenInrError(f"{err} (coin's {key} is the command's {command_name} unless inr_codec.{key} "
                                    "is given)") from None


def _encode_coin(image: np.ndarray, settings: NetworkCodecSettings) -> InrEncoding:
    return encode_network("coin", "siren", {}, image, settings)


def coin_onto_command(values: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    """A command's config (conf/compress.yaml's shape: model, num_epochs, optim, quant, coder, qat_*, seed) with
    coin's given settings (`values`: a mapping, null = the command's own) written over it; a new mapping."""
    _check_coin(values)
    out = copy.deepcopy(command)
    model, optim = out.setdefault("model", {}), out.setdefault("optim", {})
    for key in _COIN_MODEL_KEYS:
        value = values.get(key)
        if value is None:
            continue
        if key not in model and value != getattr(COIN_DEFAULTS, key):
            raise SirenInrError(f"inr_codec coin: {key}={value!r}, but the model family "
                                f"{model.get('name', '(the chosen one)')!r} takes no {key}")
        if key in model:
            model[key] = value
    if values.get("steps") is not None:
        out["num_epochs"] = values["steps"]
    if values.get("lr") is not None:
        optim["lr"] = values["lr"]
    schedule = values.get("lr_schedule")
    if schedule is not None:
        if not isinstance(schedule, str) or schedule not in FIT_SCHEDULES:
            raise SirenInrError(f"inr_codec lr_schedule={schedule!r}; accepted: {', '.join(LR_SCHEDULES)}")
        optim["lr_schedule"] = FIT_SCHEDULES[schedule]
        if schedule == "cosine":
            optim["lr_min"] = COSINE_FLOOR * optim["lr"]
    if values.get("l1"):
        raise SirenInrError(f"inr_codec coin: l1={values['l1']!r}; the command fits coin's network with the train "
                            "job's fit, which has no L1 penalty (accepted: 0; siren_pe has one)")
    for key, value in (values.get("quant") or {}).items():
        out.setdefault("quant", {})[key] = value  # null sensitive_bits is a value: quant.bits for every tensor
    if values.get("coder") is not None:
        out["coder"] = values["coder"]
    for key, value in (values.get("qat") or {}).items():
        if value is not None:
            out[_COIN_QAT_KEYS[key]] = value
    if values.get("seed") is not None:
        out["seed"] = values["seed"]
    return out


COIN = InrCodec(
    name="coin", codec_id=0, settings_type=NetworkCodecSettings, defaults=COIN_DEFAULTS, encode=_encode_coin,
    decode=decode_network, container_version=1,
    ladder=tuple((f"{d}x{w}", {"hidden_layers": d, "hidden_features": w}) for d, w in COIN_NETWORKS),
    ladder_varies=("hidden_layers", "hidden_features"), point_label=network_label, study_budget=_network_budget,
    check=_check_coin, onto_command=coin_onto_command,
)


# --- siren_pe ------------------------------------------------------------------------------------------------


def _encode_siren_pe(image: np.ndarray, settings: NetworkCodecSettings) -> InrEncoding:
    octaves = 8 if settings.num_frequencies is None else settings.num_frequencies
    return encode_network("siren_pe", "siren_pe", {"num_frequencies": octaves}, image, settings)


SIREN_PE = InrCodec(
    name="siren_pe", codec_id=1, settings_type=NetworkCodecSettings,
    defaults=NetworkCodecSettings(hidden_features=32, hidden_layers=3, num_frequencies=8, steps=2000, lr=1e-3,
                                  lr_schedule="cosine", l1=1e-5),
    encode=_encode_siren_pe, decode=decode_network, container_version=2,
    # widths spanning ~0.1-0.6 bpp on 768x512
    ladder=tuple((f"{d}x{w}", {"hidden_layers": d, "hidden_features": w})
                 for d, w in ((3, 32), (3, 48), (3, 64), (3, 96))),
    ladder_varies=("hidden_layers", "hidden_features"), point_label=network_label, study_budget=_network_budget,
)
