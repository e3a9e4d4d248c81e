"""The INR codecs by name: coin (COIN 2021), siren_pe (Strümpler et al. 2022), latent (a Cool-chic-like codec).

    data, reconstruction, info = encode("latent", image, settings_for("latent", {"lam": 0.002}))
    decoded = siren_inr.compression.codec.decode_inr(data)   # dispatches on the file's codec id

`image` is [H, W, C] float in [0, 1]; `reconstruction` is the uint8 image the decoder gives for `data`
(the encoder decodes its own bytes); `info` holds bpp, PSNR/SSIM, where the bytes went, the decoder's
multiplications per pixel and the seconds spent. The codecs themselves are entries of `registry.py`, each
registered by its own package (coin and siren_pe: `network/`, latent: `latent/`); this module builds settings
and study points from an entry's fields, so it names no codec. coin and siren_pe fit a network full-batch with
Adam (siren_pe with an L1 weight penalty), tune it through its quantized forward (qat.py) and store its
entropy-coded weights; latent trains latent grids and small networks for MSE + lambda * rate (latent/).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from siren_inr.compression.latent.entry import LatentCodecSettings
from siren_inr.compression.network.codecs import (LR_SCHEDULES, NetworkCodecSettings, fit_network,
                                                  network_multiplications_per_pixel)
from siren_inr.compression.registry import InrEncoding, inr_codec, inr_codec_names, inr_codecs
from siren_inr.data.pixels import image_hwc
from siren_inr.errors import SirenInrError

__all__ = ["INR_CODECS", "DEFAULTS", "LADDERS", "InrEncoding", "LatentCodecSettings", "LR_SCHEDULES",
           "NetworkCodecSettings", "check_codec_name", "encode", "fit_network", "merged",
           "network_multiplications_per_pixel", "point_label", "settings_for", "study_points"]

INR_CODECS = inr_codec_names()
DEFAULTS: dict[str, Any] = {entry.name: entry.defaults for entry in inr_codecs()}
# A study's default points per codec: (label, overrides of the codec's settings).
LADDERS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    entry.name: [(label, dict(overrides)) for label, overrides in entry.ladder] for entry in inr_codecs()}


def check_codec_name(name: Any) -> str:
    """The name if it is an INR codec, else a SirenInrError listing them."""
    return inr_codec(name).name


def point_label(codec: str, settings: Any) -> str:
    """A study point's name: lam=... for latent, layers x width for the network codecs."""
    return inr_codec(codec).point_label(settings)


def study_points(codec: str, base: dict[str, Any], ladder: list[dict[str, Any]] | None = None) -> list[tuple[str, Any]]:
    """(label, settings) of each point of a study: `base` overrides for every point, merged under each point's
    overrides (`ladder`; None: the codec's registered ladder). Bad settings and two points of the same label are
    SirenInrErrors."""
    entry = inr_codec(codec)
    if ladder is None:
        ladder = [dict(overrides) for _, overrides in entry.ladder]
    if not isinstance(ladder, list) or not ladder or not all(isinstance(p, dict) for p in ladder):
        raise SirenInrError(f"inr_ladders.{codec}={ladder!r}; "
                            f"accepted: a non-empty list of mappings of {codec} settings")
    points, seen = [], set()
    for overrides in ladder:
        settings = settings_for(codec, merged(base, overrides))
        label = entry.point_label(settings)
        if label in seen:
            raise SirenInrError(f"inr_ladders.{codec} has two points named {label}; each needs its own "
                                f"{' x '.join(entry.ladder_varies)}")
        seen.add(label)
        points.append((label, settings))
    return points


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra`'s keys, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def settings_for(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The codec's default settings with `overrides` (flat keys; nested settings such as quant/qat/train as
    mappings). A null top-level setting is the codec's default (coin's yaml: the command's own setting)."""
    entry = inr_codec(name)
    base = entry.defaults
    values = {key: value for key, value in dict(overrides or {}).items() if value is not None}
    values.pop("name", None)
    fields = {f.name: f for f in dataclasses.fields(base)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise SirenInrError(f"inr_codec {name}: unknown setting(s) {', '.join(unknown)}; accepted: {', '.join(fields)}")
    for key, value in list(values.items()):
        inner = getattr(base, key)
        if isinstance(value, dict) and dataclasses.is_dataclass(inner):
            accepted = [f.name for f in dataclasses.fields(inner)]
            bad = sorted(set(value) - set(accepted))
            if bad:
                raise SirenInrError(f"inr_codec {name}: unknown {key} setting(s) {', '.join(bad)}; "
                                    f"accepted: {', '.join(accepted)}")
            values[key] = dataclasses.replace(inner, **value)
    if entry.check is not None:
        entry.check(values)
    try:
        return dataclasses.replace(base, **values)
    except TypeError as err:
        raise SirenInrError(f"inr_codec {name}: {err}") from None


def encode(name: str, image: np.ndarray, settings: Any = None) -> InrEncoding:
    """Encode an image [H, W, C] in [0, 1] with the INR codec `name` (default settings when None)."""
    entry = inr_codec(name)
    settings = entry.defaults if settings is None else settings
    if not isinstance(settings, entry.settings_type):
        raise SirenInrError(f"inr_codec {name} takes {entry.settings_type.__name__}, got {type(settings).__name__}")
    image = image_hwc(image)
    if image.ndim != 3 or not 1 <= image.shape[2] <= 4 or min(image.shape[:2]) < 1:
        raise SirenInrError(f"image of shape {image.shape}; accepted: [H, W, C] with 1-4 channels")
    return entry.encode(image, settings)
