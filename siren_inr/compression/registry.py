"""The INR codecs by name: one registry entry per codec, each registered by its own package under compression/.

    entry = inr_codec("latent")            # or codec_for_file(container.unpack(data).codec)
    data, reconstruction, info = entry.encode(image, entry.defaults)

A codec is a package under `siren_inr/compression/` whose `__init__` calls `register_inr_codec(InrCodec(...))`
(coin and siren_pe: `network/`, one module, two entries; latent: `latent/`). The registry finds the packages by
listing the subpackages of `compression/` and importing them, once, the first time a codec is asked for, so that
adding a codec touches its own package, its `conf/inr_codec/NAME.yaml` and its tests only. Only the installed
package's own subpackages are imported: a file names a codec, never code to run.

Everything a caller needs to know about a codec is a field of its entry, so no code outside the registry and
the codec's own package compares codec names.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from siren_inr.errors import SirenInrError


class InrEncoding(NamedTuple):
    """What a codec's `encode` returns: the file, the decoder's image, and the numbers."""

    data: bytes
    reconstruction: np.ndarray  # [H, W, C] uint8, exactly what decoding `data` gives
    info: dict[str, Any]  # bpp, psnr_db, ssim, num_bytes, num_params, multiplications_per_pixel, fit_seconds, setting


@dataclass(frozen=True)
class InrCodec:
    """One INR codec: its settings, its encoder, the files it owns and how a study or a command uses it."""

    name: str
    codec_id: int  # the container's codec id byte (container.CODEC_IDS[codec_id] == name); also the listing order
    settings_type: type  # a frozen dataclass; nested dataclass fields take mappings of their own fields
    defaults: Any  # settings_type(...) with the codec's defaults (conf/inr_codec/NAME.yaml starts from these)
    encode: Callable[[np.ndarray, Any], InrEncoding]  # image [H, W, C] in [0, 1], settings -> the file and numbers
    decode: Callable[[Any, int], Any]  # (container.Container, file size in bytes) -> decoded pixels, any version
    container_version: int  # the format version its files are written in
    ladder: tuple[tuple[str, Mapping[str, Any]], ...]  # a study's default points: (label, overrides of settings)
    ladder_varies: tuple[str, ...]  # the settings a ladder point sets (dotted for nested ones), e.g. ("train.lam",)
    point_label: Callable[[Any], str]  # a study point's name from its settings, e.g. "lam=0.004" or "3x32"
    # A study's budget as the codec's settings, under the study's inr_settings and each point's overrides:
    # (num_epochs, seed, quant, coder, qat) of the study -> overrides (e.g. num_epochs as its steps)
    study_budget: Callable[[int, int, Any, str, Any], dict[str, Any]]
    check: Callable[[dict[str, Any]], None] | None = None  # refuses overrides the dataclass alone accepts
    # The command fits this codec's network itself (compress: the train job's fit, or run_id=: a tracked fit's
    # weights; rd: its `ladder`, batched): maps the codec's settings onto the command's own config (a mapping
    # shaped like conf/compress.yaml: model, num_epochs, optim, quant, coder, qat_*, seed) and returns the new
    # config. None: the codec trains its own networks from its settings (`encode`).
    onto_command: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None

    @property
    def fitted_by_command(self) -> bool:
        """Whether the command fits this codec's network (and compress may take a tracked fit's weights)."""
        return self.onto_command is not None


_REGISTRY: dict[str, InrCodec] = {}
_DISCOVERED = False


def register_inr_codec(entry: InrCodec) -> InrCodec:
    """Add a codec (called by its package's __init__); a second codec of the same name or id is a bug."""
    for other in _REGISTRY.values():
        if other.name != entry.name and other.codec_id == entry.codec_id:
            raise ValueError(f"INR codecs {other.name} and {entry.name} both claim container codec id {entry.codec_id}")
    if entry.name in _REGISTRY and _REGISTRY[entry.name] is not entry:
        raise ValueError(f"INR codec {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def _discover() -> None:
    """Import every subpackage of compression/ once: each codec package registers its codecs."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.ispkg:
            importlib.import_module(f"{__package__}.{module.name}")


def inr_codecs() -> tuple[InrCodec, ...]:
    """Every registered codec, in container codec id order (coin, siren_pe, latent, ...)."""
    _discover()
    return tuple(sorted(_REGISTRY.values(), key=lambda entry: entry.codec_id))


def inr_codec_names() -> tuple[str, ...]:
    """The registered codecs' names, in container codec id order."""
    return tuple(entry.name for entry in inr_codecs())


def inr_codec(name: Any) -> InrCodec:
    """The codec called `name`, else a SirenInrError listing them."""
    _discover()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise SirenInrError(f"inr_codec={name!r} is not known; accepted: {', '.join(inr_codec_names())}")
    return _REGISTRY[name]


def codec_for_file(codec: str) -> InrCodec:
    """The codec that owns files of the container codec id `codec` (a name from container.CODEC_IDS)."""
    _discover()
    if codec not in _REGISTRY:
        raise SirenInrError(f".inr file is of codec {codec!r}, which this installation cannot decode; "
                            f"accepted: {', '.join(inr_codec_names())}")
    return _REGISTRY[codec]
