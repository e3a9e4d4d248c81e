"""Latent codec files of format version 2 (the checkerboard codec), and what version 3 (latent.bitstream) shares
with it: the weight-group coding, the decoded-file type, the header's size entries, loading the stored networks,
and the start and end of an encode (architecture and training; packing, the self-check decode and the report).

Version 2 is no longer written by `inr_codec=latent` (latent.bitstream writes version 3); its decoder reads the
files written before, and its writer stays so that the committed studies made with it can be re-run.

Payload (format version 2, codec id "latent"), after the header:
  weights   for each stored network (synthesis, entropy, refine) and each of its two groups (weights,
            then biases and offsets), in parameter order: one byte k (values are integers times 2**-k),
            the zigzag varints of the smallest and largest integer, the float16 scale of a zero-mean
            Laplace over them, the varint length of the range-coded block and the block
  latents   the rest: the range-coded integer latents (siren_inr.compression.latent.entropy)
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import asdict, dataclass
from collections.abc import Callable
from typing import Any

import constriction
import numpy as np
import torch
from torch import nn

from siren_inr.compression import container
from siren_inr.compression.latent.entropy import decode_latents, encode_latents, rate_bits
from siren_inr.compression.latent.model import LatentArchitecture, LatentDecoder, LatentGrids
from siren_inr.compression.latent.train import LatentTrainSettings, TrainedLatents, train_latents
from siren_inr.data.pixels import image_chw, image_hwc
from siren_inr.errors import SirenInrError
from siren_inr.validation import is_int

STEP_EXPONENTS = range(0, 16)  # weights are integers times 2**-k (k <= 16 keeps version 3's integer ARM exact)
MAX_WEIGHT_INT = 1 << 16
MIN_WEIGHT_SCALE = 0.05
MAX_LATENT = 1 << 15
MAX_SIDE_PX = 1 << 15


@dataclass
class DecodedLatent(container.DecodedPixels):
    """A decoded latent-codec file of version 2 (method range-laplace: a LatentArchitecture, the latents as float
    tensors holding integers, a LatentDecoder) or 3 (range-arm, latent.bitstream: an Architecture, int64 grids,
    LatentNetworks). The image fields match codec.DecodedInr's."""

    image_u8: np.ndarray  # [H, W, C] uint8
    height: int
    width: int
    channels: int
    num_bytes: int
    architecture: LatentGrids
    latents: list  # integer latents, finest first
    networks: nn.Module
    codec: str = "latent"
    method: str = "range-laplace"
    arch: str = "latent"

    @property
    def hparams(self) -> dict[str, Any]:
        """The architecture as primitives."""
        return asdict(self.architecture)


def weight_groups(module: nn.Module) -> list[list[tuple[str, nn.Parameter]]]:
    named = list(module.named_parameters())
    weights = [(n, p) for n, p in named if p.ndim >= 2 and not n.endswith("offsets")]
    others = [(n, p) for n, p in named if not (p.ndim >= 2 and not n.endswith("offsets"))]
    return [g for g in (weights, others) if g]


def _zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def _unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


def _laplace(low: int, high: int, scale: np.ndarray) -> "constriction.stream.model.QuantizedLaplace":
    return constriction.stream.model.QuantizedLaplace(low, high, 0.0, float(scale.astype(np.float64)[0]))


def encode_weight_group(values: np.ndarray, k: int) -> tuple[bytes, np.ndarray] | None:
    """(serialised group, dequantized values) at step 2**-k, or None if its integers exceed 2**16."""
    q = np.rint(values.astype(np.float64) * 2.0**k).astype(np.int64)
    low, high = int(q.min()), int(q.max())
    if max(-low, high) > MAX_WEIGHT_INT:
        return None
    high = max(high, low + 1)  # constriction needs a range of two symbols at least
    scale = np.array([max(float(np.abs(q).mean()), MIN_WEIGHT_SCALE)], dtype="<f2")
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(q.astype(np.int32), _laplace(low, high, scale))
    block = encoder.get_compressed().astype("<u4").tobytes().rstrip(b"\x00")
    blob = (bytes([k]) + container.write_varint(_zigzag(low)) + container.write_varint(_zigzag(high))
            + scale.tobytes() + container.write_varint(len(block)) + block)
    return blob, (q.astype(np.float64) * 2.0**-k).astype(np.float32)


def decode_weight_group(reader: container.ByteReader, count: int) -> np.ndarray:
    k = reader.take(1, "weight step")[0]
    if k not in STEP_EXPONENTS:
        raise SirenInrError(f".inr file is damaged: weight step exponent {k} is not in 0-{STEP_EXPONENTS[-1]}")
    low = _unzigzag(reader.varint("smallest weight", 4 * MAX_WEIGHT_INT))
    high = _unzigzag(reader.varint("largest weight", 4 * MAX_WEIGHT_INT))
    scale = np.frombuffer(reader.take(2, "weight scale"), dtype="<f2")
    if not (-MAX_WEIGHT_INT <= low < high <= MAX_WEIGHT_INT + 1 and np.isfinite(scale).all() and scale[0] > 0):
        raise SirenInrError(".inr file is damaged: invalid weight range or scale")
    block = reader.take(reader.varint("weight block length", reader.remaining()), "weight block")
    padded = block + b"\x00" * (-len(block) % 4)
    try:
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(padded, dtype="<u4").astype(np.uint32))
        q = decoder.decode(_laplace(low, high, scale), count).astype(np.float64)
    except (AssertionError, ValueError, RuntimeError, OverflowError) as err:
        raise SirenInrError(f".inr file is damaged: the weight decoder rejects it ({err})") from None
    return (q * 2.0**-k).astype(np.float32)


def flat_group(group: list[tuple[str, nn.Parameter]]) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for _, p in group]).numpy()


def assign_group(group: list[tuple[str, nn.Parameter]], values: np.ndarray) -> None:
    start = 0
    with torch.no_grad():
        for _, p in group:
            p.copy_(torch.from_numpy(values[start : start + p.numel()]).reshape(p.shape))
            start += p.numel()


@torch.no_grad()
def quantize_groups(modules: dict[str, nn.Module], distortion: Callable[[], float], latent_bits: Callable[[], float],
                    rate_module: str, lam: float, pixels: int) -> bytes:
    """Quantize every weight group of `modules` (in file order) in place at the step 2**-k with the lowest
    distortion + lam * (latent bits + the group's bits) / pixels; the serialised groups. `rate_module` names the
    entropy model, whose weights change the latents' bits only; the others change the distortion only."""
    out = bytearray()
    for name, module in modules.items():
        for group in weight_groups(module):
            original = flat_group(group)
            fixed_bits = latent_bits() if name != rate_module else None
            fixed_distortion = distortion() if name == rate_module else None
            best = None
            for k in STEP_EXPONENTS:
                encoded = encode_weight_group(original, k)
                if encoded is None:
                    continue
                blob, values = encoded
                assign_group(group, values)
                error = fixed_distortion if fixed_distortion is not None else distortion()
                bits = fixed_bits if fixed_bits is not None else latent_bits()
                cost = error + lam * (bits + 8 * len(blob)) / pixels
                if best is None or cost < best[0]:
                    best = (cost, blob, values)
            if best is None:
                raise SirenInrError(f"the latent codec's {name} weights span too wide a range to quantize")
            assign_group(group, best[2])
            out += best[1]
    return bytes(out)


@torch.no_grad()
def quantize_weights(decoder: LatentDecoder, latents: list[torch.Tensor], target: torch.Tensor, lam: float) -> bytes:
    """Quantize every weight group in place at the step with the best MSE + lam * bpp; the serialised weights."""
    rounded = [torch.round(y) for y in latents]
    return quantize_groups(decoder.modules_to_store(),
                           lambda: float(torch.mean((decoder(rounded).clamp(0, 1) - target) ** 2)),
                           lambda: float(rate_bits(decoder.entropy, rounded)), "entropy", lam,
                           target.shape[1] * target.shape[2])


def layout_fingerprint(networks: nn.Module) -> int:
    """CRC32 of the stored parameters' names and shapes (of `networks.modules_to_store()`, versions 2 and 3): a file
    written for other networks is refused."""
    text = ";".join(f"{n}:{'x'.join(map(str, p.shape))}" for m in networks.modules_to_store().values()
                    for n, p in m.named_parameters())
    return zlib.crc32(text.encode("utf-8"))


def load_networks(parsed: container.Container, build: Callable[[Any], nn.Module],
                  arch: LatentGrids) -> tuple[nn.Module, container.ByteReader]:
    """`build(arch)`'s networks (initialised from seed 0, in eval mode) with the stored weight groups of their
    `modules_to_store()` read into them in file order, and the payload's reader left at the latents (versions 2 and
    3). A file whose layout fingerprint is not the networks' is refused."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        networks = build(arch).eval()
    if parsed.header.get("layout") != layout_fingerprint(networks):
        raise SirenInrError(".inr file's latent-codec layout differs from this installation's networks; "
                            "it is damaged or was written by an incompatible version")
    reader = container.ByteReader(parsed.payload, "latent payload")
    for module in networks.modules_to_store().values():
        for group in weight_groups(module):
            assign_group(group, decode_weight_group(reader, sum(p.numel() for _, p in group)))
    return networks, reader


def grids_header(arch: LatentGrids, layout: int) -> dict[str, Any]:
    """The header's first entries, in both versions: the layout fingerprint, the image size and the levels."""
    return {"layout": layout, "size": [arch.height, arch.width, arch.channels], "levels": arch.levels}


def read_size(header: dict[str, Any]) -> tuple[int, int, int]:
    """(height, width, channels) of a latent header (versions 2 and 3); damage and unaccepted sizes are
    SirenInrErrors."""
    size = header.get("size")
    if not (isinstance(size, list) and len(size) == 3 and all(is_int(v) for v in size)):
        raise SirenInrError(".inr file is damaged: its latent header lacks or garbles size")
    height, width, channels = size
    if not (1 <= height <= MAX_SIDE_PX and 1 <= width <= MAX_SIDE_PX and 1 <= channels <= 4):
        raise SirenInrError(f".inr file gives an image size {height}x{width}x{channels} outside what is accepted")
    return height, width, channels


def _header(arch: LatentArchitecture, low: int, high: int, layout: int) -> dict[str, Any]:
    return {**grids_header(arch, layout), "upsampling": arch.upsampling,
            "synthesis": {"arch": arch.synthesis_arch, "hparams": arch.synthesis_hparams()},
            "refine": arch.refine, "entropy": {"hidden": arch.entropy_hidden}, "latent_range": [low, high]}


def _read_header(header: dict[str, Any]) -> tuple[LatentArchitecture, int, int]:
    height, width, channels = read_size(header)
    try:
        synthesis, span = header["synthesis"], header["latent_range"]
        if not (isinstance(span, list) and len(span) == 2):
            raise TypeError("latent_range")
        low, high = span
        hparams = synthesis["hparams"]
        if not (isinstance(hparams, dict) and hparams == {
                "in_features": header["levels"], "out_features": channels,
                "hidden_features": hparams.get("hidden_features"), "hidden_layers": hparams.get("hidden_layers")}):
            raise TypeError("synthesis hyperparameters")
        if not (is_int(low) and is_int(high) and -MAX_LATENT <= low < high <= MAX_LATENT):
            raise TypeError("latent_range")
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise SirenInrError(f".inr file is damaged: its latent header lacks or garbles {err}") from None
    try:
        arch = LatentArchitecture(height, width, channels, header["levels"], synthesis["arch"],
                                  hparams["hidden_features"], hparams["hidden_layers"], header["refine"],
                                  header["entropy"]["hidden"], header["upsampling"])
    except (KeyError, TypeError) as err:
        raise SirenInrError(f".inr file is damaged: its latent header lacks {err}") from None
    except SirenInrError as err:
        raise SirenInrError(f".inr file cannot be decoded: {err}") from None
    if max(arch.hidden_features, arch.entropy_hidden) > 256 or arch.hidden_layers > 16:
        raise SirenInrError(f".inr file asks for a synthesis of {arch.hidden_layers}x{arch.hidden_features} or an "
                            f"entropy model of width {arch.entropy_hidden}; accepted: up to 16x256 and 256")
    bytes_per_pixel = 4 * (3 * arch.levels + 3 * arch.hidden_features + 4 * channels + 3 * arch.refine) + channels
    container.check_decode_memory(height, width, channels, bytes_per_pixel)
    return arch, low, high


def render_latents(decoder: LatentDecoder, latents: list[torch.Tensor]) -> np.ndarray:
    """The codec's output for integer latents: CPU float32, clamped and rounded to uint8 [H, W, C]."""
    with torch.no_grad():
        image = decoder(latents).clamp(0.0, 1.0).permute(1, 2, 0)
    return np.rint(image.numpy() * 255.0).astype(np.uint8)


def decode_latent(parsed: container.Container, num_bytes: int) -> DecodedLatent:
    """Decode a parsed latent-codec container (see codec.decode_inr)."""
    arch, low, high = _read_header(parsed.header)
    decoder, reader = load_networks(parsed, LatentDecoder, arch)
    latents = decode_latents(decoder.entropy, reader.rest(), arch.level_shapes(), low, high)
    image_u8 = render_latents(decoder, latents)
    return DecodedLatent(image_u8, arch.height, arch.width, arch.channels, num_bytes, arch, latents, decoder)


@dataclass
class EncodedLatent:
    """A latent-codec file, its own decoding and where its bits went."""

    data: bytes
    decoded: DecodedLatent
    info: dict[str, Any]


def prepare_encoding(image: np.ndarray, make_arch: Callable[..., LatentGrids], arch_settings: dict[str, Any],
                     train_fn: Callable[[np.ndarray, Any, Any], TrainedLatents], train: Any,
                     trained: TrainedLatents | None) -> tuple[Any, TrainedLatents, torch.Tensor]:
    """(architecture, trained latents and networks (in eval mode), target [C, H, W]) for encoding an image [H, W, C]
    in [0, 1] (versions 2 and 3): `make_arch(*image.shape, **arch_settings)`, trained by `train_fn` unless given."""
    image = image_hwc(image)
    arch = make_arch(*image.shape, **arch_settings)
    if trained is None:
        trained = train_fn(image, arch, train)
    trained.networks.eval()
    return arch, trained, image_chw(image)


def finish_encoding(header: dict[str, Any], weights: bytes, latent_bytes: bytes, version: int,
                    decode: Callable[[container.Container, int], DecodedLatent], latents: list, train: Any,
                    trained: TrainedLatents, bits: tuple[float, float]) -> EncodedLatent:
    """Pack the file (versions 2 and 3), decode it (timed) and check that the decoder's latents are `latents`; the
    file, its decoding and what the encode reports: sizes, where the bytes went, the coded and estimated latent bits
    (`bits`), the decoder's cost and the seconds spent."""
    data = container.pack(header, weights + latent_bytes, version=version, codec="latent")
    started = time.perf_counter()
    decoded = decode(container.unpack(data), len(data))
    decode_seconds = time.perf_counter() - started
    if not all(torch.equal(torch.as_tensor(a), torch.as_tensor(b)) for a, b in zip(decoded.latents, latents)):
        raise RuntimeError("latent codec: the decoder's latents differ from the encoder's (entropy model mismatch)")
    networks = trained.networks
    height, width = networks.arch.height, networks.arch.width
    info = {
        "codec": "latent", "lam": train.lam, "steps": train.steps, "num_bytes": len(data),
        "bpp": 8 * len(data) / (height * width), "latent_bytes": len(latent_bytes), "weight_bytes": len(weights),
        "header_bytes": len(data) - len(latent_bytes) - len(weights),
        "latent_bits_coded_model": bits[0], "latent_bits_estimate": bits[1],
        "num_latents": int(sum(math.prod(y.shape) for y in latents)),
        "num_weights": int(sum(p.numel() for p in networks.parameters())),
        "multiplications_per_pixel": networks.multiplications_per_pixel(),
        "train_seconds": trained.seconds, "decode_seconds": decode_seconds,
    }
    return EncodedLatent(data, decoded, info)


def encode_latent_image(image: np.ndarray, arch_settings: dict[str, Any], train: LatentTrainSettings,
                        trained: TrainedLatents | None = None) -> EncodedLatent:
    """Train (unless `trained` is given), quantize and range-code one image [H, W, C] in [0, 1]."""
    arch, trained, target = prepare_encoding(image, LatentArchitecture, arch_settings, train_latents, train, trained)
    decoder = trained.networks
    weights = quantize_weights(decoder, trained.latents, target, train.lam)
    ints = [torch.round(y) for y in trained.latents]
    low = max(-MAX_LATENT, int(min(float(y.min()) for y in ints)))
    high = min(MAX_LATENT, max(int(max(float(y.max()) for y in ints)), low + 1))
    ints = [y.clamp(low, high) for y in ints]
    with torch.no_grad():
        estimated_bits = float(rate_bits(decoder.entropy, ints))
    latent_bytes, ideal_bits = encode_latents(decoder.entropy, ints, low, high)
    header = _header(arch, low, high, layout_fingerprint(decoder))
    return finish_encoding(header, weights, latent_bytes, 2, decode_latent, ints, train, trained,
                           (ideal_bits, estimated_bits))
