"""The INR codec: a fitted network -> quantized, entropy-coded .inr bytes -> the same 8-bit image.

The decoded image is defined as the network's output on the pixel grid, evaluated on the CPU in
float32, mapped to [0, 1] and rounded to 8 bits. `encode_inr` reports quality by decoding its own
bytes through `decode_inr`, so what `compress` prints is exactly what `decompress` reproduces.

Payload (after the container header), tensors in the rebuilt model's state_dict order:
  uniform      per tensor, its float16 (low, step) pairs (one pair, or one per row with
               per_channel); then one entropy-coded block per bit depth (see entropy.py): the
               main depth first, then `sensitive_bits` (biases, coordinate-input matrices); every
               block but the last is preceded by its varint length
  fp16 / fp32  one block of the little-endian floats, raw or zlib/lzma (see entropy.py)
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from siren_inr.compression import container, entropy
from siren_inr.compression.quantize import QuantSettings, dequantize, num_groups, quantize_uniform
from siren_inr.data import PixelField, coordinate_grid
from siren_inr.data.pixels import image_hwc
from siren_inr.errors import SirenInrError
from siren_inr.validation import is_int
from siren_inr.metrics.quality import psnr_db, ssim
from siren_inr.compression.registry import codec_for_file, inr_codec, inr_codecs
from siren_inr.models import build_model, list_models, model_spec

MAX_SIDE_PX = 1 << 15
MAX_CHANNELS = 4
# Peak bytes per decoded pixel of `render`: coordinates, outputs, the [0,1] image and its copies, uint8.
RENDER_BYTES_PER_PIXEL = 8 + 16 * MAX_CHANNELS + MAX_CHANNELS
MAX_HPARAM_INT = 1 << 16
RENDER_CHUNK_ROWS = 1 << 16


@dataclass
class DecodedInr(container.DecodedPixels):
    """What an .inr file holds once decoded."""

    model: nn.Module
    image_u8: np.ndarray  # [H, W, C] uint8
    arch: str
    hparams: dict[str, Any]
    height: int
    width: int
    channels: int
    quant: QuantSettings
    method: str  # entropy coding method of the weights block
    num_bytes: int
    codec: str = "coin"  # the container's codec id (coin or siren_pe for a network's weights)


@dataclass
class EncodedInr:
    """An encoded file with the quality of its own decoding."""

    data: bytes
    decoded: DecodedInr
    psnr_db: float | None = None
    ssim: float | None = None

    @property
    def num_bytes(self) -> int:
        """Whole-file size in bytes."""
        return len(self.data)

    @property
    def bpp(self) -> float:
        """Whole-file bits per pixel."""
        return self.decoded.bpp


def _layout_fingerprint(state: dict[str, torch.Tensor]) -> int:
    text = ";".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in state.items())
    return zlib.crc32(text.encode("utf-8"))


def _float_state(model: nn.Module) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    for key, value in state.items():
        if not value.is_floating_point():
            raise SirenInrError(f"model entry {key!r} has dtype {value.dtype}; "
                                "the .inr format stores float tensors only")
    return {k: v.detach().to("cpu", torch.float32) for k, v in state.items()}


def quantized_state(model: nn.Module, quant: QuantSettings) -> dict[str, torch.Tensor]:
    """The state_dict a decoder rebuilds from `model` under `quant` (float32, CPU)."""
    out = {}
    for key, value in _float_state(model).items():
        if quant.mode == "fp32":
            out[key] = value.clone()
        elif quant.mode == "fp16":
            out[key] = value.to(torch.float16).to(torch.float32)
        else:
            bits = quant.bits_for(tuple(value.shape))
            out[key] = torch.from_numpy(quantize_uniform(value, bits, quant.per_channel).dequantize())
    return out


def _encode_payload(state: dict[str, torch.Tensor], quant: QuantSettings, coder: str) -> bytes:
    if quant.mode in ("fp16", "fp32"):
        entropy.check_coder(coder, byte_payload=True)
        dtype = "<f2" if quant.mode == "fp16" else "<f4"
        arrays = [v.numpy().astype(np.float64) for v in state.values()]
        if quant.mode == "fp16" and any(a.size and np.abs(a).max() > np.finfo(np.float16).max for a in arrays):
            raise SirenInrError("weights exceed float16's range; use quant.mode=fp32")
        raw = b"".join(a.astype(dtype).tobytes() for a in arrays)
        return entropy.encode_bytes(raw, coder)
    entropy.check_coder(coder)
    params = bytearray()
    groups: dict[int, list[np.ndarray]] = {}
    for value in state.values():
        bits = quant.bits_for(tuple(value.shape))
        qt = quantize_uniform(value, bits, quant.per_channel)
        params += np.stack([qt.low, qt.step], axis=1).astype("<f2").tobytes()
        groups.setdefault(bits, []).append(qt.symbols)
    # One entropy-coded block per bit depth, main depth first; all but the last carry their length.
    depths = sorted(groups, key=lambda b: (b != quant.bits, b))
    blocks = [entropy.encode_symbols(groups[b], b, coder) for b in depths]
    framed = b"".join(container.write_varint(len(block)) + block for block in blocks[:-1]) + blocks[-1]
    return bytes(params) + framed


def _decode_payload(payload: bytes, template: dict[str, torch.Tensor], quant: QuantSettings) -> tuple[dict, str]:
    shapes = [tuple(v.shape) for v in template.values()]
    sizes = [int(np.prod(s)) for s in shapes]
    if quant.mode in ("fp16", "fp32"):
        dtype = np.dtype("<f2" if quant.mode == "fp16" else "<f4")
        method = entropy.describe_symbol_block(payload)
        raw = entropy.decode_bytes(payload, sum(sizes) * dtype.itemsize)
        flat = np.frombuffer(raw, dtype=dtype).astype(np.float32)
        arrays, start = [], 0
        for shape, n in zip(shapes, sizes):
            arrays.append(flat[start : start + n].reshape(shape))
            start += n
    else:
        reader = container.ByteReader(payload, "weights payload")
        grids = []
        for shape in shapes:
            groups = num_groups(shape, quant.per_channel)
            pairs = np.frombuffer(reader.take(4 * groups, "quantization parameters"), dtype="<f2").reshape(groups, 2)
            if not np.isfinite(pairs).all() or (pairs[:, 1] < 0).any():
                raise SirenInrError(".inr file is damaged: invalid quantization parameters")
            grids.append((pairs[:, 0].copy(), pairs[:, 1].copy()))
        depth_of = [quant.bits_for(shape) for shape in shapes]
        depths = sorted(set(depth_of), key=lambda b: (b != quant.bits, b))
        symbols: list[np.ndarray | None] = [None] * len(shapes)
        methods = []
        for index, bits in enumerate(depths):
            last = index == len(depths) - 1
            block = reader.rest() if last else reader.take(reader.varint("block length", len(payload)), "weights block")
            methods.append(entropy.describe_symbol_block(block))
            members = [i for i, b in enumerate(depth_of) if b == bits]
            for i, decoded in zip(members, entropy.decode_symbols(block, [sizes[i] for i in members], bits)):
                symbols[i] = decoded
        method = "+".join(methods)
        arrays = [dequantize(s, lo, st, shape) for s, (lo, st), shape in zip(symbols, grids, shapes)]
    state = {k: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for k, a in zip(template, arrays)}
    return state, method


def render(model: nn.Module, height: int, width: int, channels: int) -> np.ndarray:
    """The codec's output: the network on the pixel grid, CPU float32, rounded to uint8 [H, W, C]."""
    model = model.to("cpu", torch.float32).eval()
    coords = coordinate_grid(height, width)
    with torch.no_grad():
        values = torch.cat([model(chunk) for chunk in torch.split(coords, RENDER_CHUNK_ROWS)], dim=0)
    if values.shape != (height * width, channels):
        raise SirenInrError(f"the network gives {tuple(values.shape[1:])} outputs per pixel, expected {channels}")
    image = PixelField(coords, values, height, width, channels).to_image(values)
    return np.rint(image.numpy() * 255.0).astype(np.uint8)


def _quant_header(quant: QuantSettings) -> dict[str, Any]:
    return {"mode": quant.mode, "bits": quant.bits, "per_channel": quant.per_channel,
            "sensitive_bits": quant.sensitive_bits}


def _check_primitive_hparams(hparams: Any) -> dict[str, Any]:
    if not isinstance(hparams, dict):
        raise SirenInrError(".inr file is damaged: hyperparameters are not a mapping")
    for key, value in hparams.items():
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise SirenInrError(f".inr file is damaged: hyperparameter {key}={value!r} is not a primitive")
        if is_int(value) and abs(value) > MAX_HPARAM_INT:
            raise SirenInrError(f".inr file asks for {key}={value}, above the accepted {MAX_HPARAM_INT}")
        if isinstance(value, float) and not math.isfinite(value):
            raise SirenInrError(f".inr file is damaged: hyperparameter {key}={value!r} is not finite")
    return dict(hparams)


def _read_header(header: dict[str, Any]) -> tuple[str, dict[str, Any], int, int, int, QuantSettings, int]:
    try:
        arch, hparams, size, q, layout = (header[k] for k in ("arch", "hparams", "size", "quant", "layout"))
        if not (isinstance(size, list) and len(size) == 3 and all(type(v) is int for v in size)):
            raise TypeError("size")
        height, width, channels = size
        quant = QuantSettings(mode=q["mode"], bits=q["bits"], per_channel=q["per_channel"],
                              sensitive_bits=q["sensitive_bits"])
    except (KeyError, TypeError, ValueError) as err:
        raise SirenInrError(f".inr file is damaged: its header lacks or garbles {err}") from None
    if not (1 <= height <= MAX_SIDE_PX and 1 <= width <= MAX_SIDE_PX and 1 <= channels <= MAX_CHANNELS):
        raise SirenInrError(f".inr file gives an image size {height}x{width}x{channels} outside what is accepted")
    container.check_decode_memory(height, width, channels, RENDER_BYTES_PER_PIXEL)
    if not isinstance(arch, str) or arch not in list_models():
        raise SirenInrError(f".inr file names model {arch!r}; accepted: {', '.join(list_models())}")
    if not isinstance(layout, int):
        raise SirenInrError(".inr file is damaged: its layout fingerprint is not an integer")
    return arch, _check_primitive_hparams(hparams), height, width, channels, quant, layout


def encode_inr(
    model: nn.Module,
    height: int,
    width: int,
    channels: int,
    quant: QuantSettings = QuantSettings(),
    coder: str = "auto",
    reference: np.ndarray | None = None,
    codec: str = "coin",
) -> EncodedInr:
    """Encode a fitted registered model as .inr bytes; PSNR/SSIM against `reference` ([H,W,C] in [0,1]).

    The file is in the format version the codec is registered with (coin: version 1, as always; siren_pe: the
    same payload in version 2); `codec` must be one whose files are a network's weights (decoded here).
    """
    weights_codecs = [entry.name for entry in inr_codecs() if entry.decode is decode_network]
    if codec not in weights_codecs:
        raise SirenInrError(f"codec {codec!r} does not store a network's weights; "
                            f"accepted: {', '.join(weights_codecs)}")
    arch, hparams = model_spec(model)
    if hparams.get("out_features") not in (None, channels):
        raise SirenInrError(f"model has out_features={hparams.get('out_features')} "
                            f"but the image has {channels} channels")
    state = _float_state(model)
    header = {
        "arch": arch,
        "hparams": hparams,
        "size": [int(height), int(width), int(channels)],
        "quant": _quant_header(quant),
        "layout": _layout_fingerprint(state),
    }
    data = container.pack(header, _encode_payload(state, quant, coder), version=inr_codec(codec).container_version,
                          codec=codec)
    decoded = decode_inr(data)
    result = EncodedInr(data=data, decoded=decoded)
    if reference is not None:
        result.psnr_db, result.ssim = image_quality(decoded.image, reference)
    return result


def image_quality(decoded: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) of a decoded [0,1] image against the reference, with the project's metrics."""
    ref = image_hwc(reference)
    if ref.shape != decoded.shape:
        raise SirenInrError(f"original image has shape {ref.shape}, the decoded one {decoded.shape}")
    return psnr_db(decoded, ref), ssim(decoded, ref)


def decode_inr(data: bytes) -> container.DecodedPixels:
    """Rebuild the 8-bit image from .inr bytes alone; damage raises SirenInrError.

    The file's codec id picks the registered codec that decodes it (registry.codec_for_file): a network's
    weights decode to a `DecodedInr`, a latent codec's file to its own decoded type (the same image fields).
    """
    parsed = container.unpack(data)
    return codec_for_file(parsed.codec).decode(parsed, len(data))


def time_decoding(data: bytes, repeats: int = 5) -> tuple[container.DecodedPixels, list[float]]:
    """Decode .inr bytes `repeats` times (decode-speed studies): the last decoding and the seconds each one took."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        decoded = decode_inr(data)
        seconds.append(time.perf_counter() - started)
    return decoded, seconds


def decode_network(parsed: container.Container, num_bytes: int) -> DecodedInr:
    """A parsed file of a network's weights (coin, siren_pe): rebuild the registered model and render it."""
    arch, hparams, height, width, channels, quant, layout = _read_header(parsed.header)
    if hparams.get("out_features") != channels:
        raise SirenInrError(f".inr file is inconsistent: out_features={hparams.get('out_features')} "
                            f"for {channels} channels")
    try:
        # Initial weights are overwritten; a fixed seed keeps any unstored state deterministic.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = build_model(arch, hparams)
    except SirenInrError as err:
        raise SirenInrError(f".inr file cannot be decoded: {err}") from None
    except Exception as err:  # a constructor rejecting values that passed the primitive checks
        raise SirenInrError(f".inr file cannot be decoded: model {arch!r} "
                            f"rejects its hyperparameters ({err})") from None
    template = _float_state(model)
    if _layout_fingerprint(template) != layout:
        raise SirenInrError(
            f".inr file's weight layout for {arch!r} differs from this installation's model; "
            "it was written by an incompatible version"
        )
    state, method = _decode_payload(parsed.payload, template, quant)
    model.load_state_dict(state, strict=True)
    image_u8 = render(model, height, width, channels)
    return DecodedInr(model, image_u8, arch, hparams, height, width, channels, quant, method, num_bytes, parsed.codec)


def write_inr(path: str | Path, data: bytes) -> None:
    """Write .inr bytes to a file (parent folders created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def read_inr(path: str | Path) -> container.DecodedPixels:
    """Decode an .inr file from disk."""
    source = Path(path)
    if not source.is_file():
        raise SirenInrError(f".inr file {str(source)!r} does not exist")
    return decode_inr(source.read_bytes())
