"""Latent codec files, format version 3: quantized networks, latents coded under the integer ARM, one .inr file.

Payload (codec id "latent"), after the header (size, levels, preset, synthesis, omega, layout fingerprint):
  weights   for each stored network (upsampler, synthesis, arm) and each of its two groups (weight matrices
            and filters, then biases), in parameter order: one byte k (values are integers times 2**-k), the
            zigzag varints of the smallest and largest integer, the float16 scale of a zero-mean Laplace over
            them, the varint length of the range-coded block and the block (latent.codec's weight groups)
  latents   the rest: the grids coded coarsest first in wavefront order (latent.wavefront)

Decoding is exact: the latents come out of integer arithmetic, and the pixels are computed in float64 from them,
where summation order changes a result by about 1e-16, far below the half-step of 8-bit rounding.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from siren_inr.compression import container
from siren_inr.compression.latent.arm import LATENT_MAX, LATENT_MIN, IntegerArm
from siren_inr.compression.latent.codec import (MAX_SIDE_PX, EncodedLatent, encoding_info,
                                                 layout_fingerprint, quantize_groups, read_weight_groups)
from siren_inr.compression.latent.network import Architecture, LatentNetworks
from siren_inr.compression.latent.training import LatentTrainSettings, TrainedLatents, train_latents
from siren_inr.compression.latent.wavefront import decode_grids, encode_grids
from siren_inr.data.pixels import image_hwc
from siren_inr.errors import SirenInrError
from siren_inr.validation import is_int

FORMAT_VERSION = 3


@dataclass
class DecodedLatent(container.DecodedPixels):
    """A decoded version-3 latent-codec file (the image fields match codec.DecodedInr's)."""

    image_u8: np.ndarray  # [H, W, C] uint8
    height: int
    width: int
    channels: int
    num_bytes: int
    architecture: Architecture
    latents: list[np.ndarray]  # integer grids, finest first
    networks: LatentNetworks
    codec: str = "latent"
    method: str = "range-arm"
    arch: str = "latent"

    @property
    def hparams(self) -> dict[str, Any]:
        """The architecture as primitives."""
        return asdict(self.architecture)


def render(networks: LatentNetworks, grids: list[np.ndarray]) -> np.ndarray:
    """The decoder's image for integer grids: float64, clamped, rounded to uint8 [H, W, C]."""
    double = networks.double()
    with torch.no_grad():
        image = double([torch.from_numpy(g.astype(np.float64)) for g in grids]).clamp(0.0, 1.0).permute(1, 2, 0)
    networks.float()
    return np.rint(image.numpy() * 255.0).astype(np.uint8)


@torch.no_grad()
def quantize_networks(networks: LatentNetworks, grids: list[torch.Tensor], target: torch.Tensor, lam: float) -> bytes:
    """Quantize every weight group in place at the step with the best MSE + lam * bpp; the serialised weights."""
    return quantize_groups(networks.modules_to_store(),
                           lambda: float(torch.mean((networks(grids).clamp(0, 1) - target) ** 2)),
                           lambda: float(networks.rate_bits(grids)), "arm", lam, target.shape[1] * target.shape[2])


def _header(arch: Architecture, layout: int) -> dict[str, Any]:
    return {"layout": layout, "size": [arch.height, arch.width, arch.channels], "levels": arch.levels,
            "preset": arch.preset, "synthesis": arch.synthesis, "omega": float(arch.omega)}


def read_header(header: dict[str, Any]) -> Architecture:
    """The architecture a version-3 header describes; damage and unaccepted values are SirenInrErrors."""
    try:
        size = header["size"]
        if not (isinstance(size, list) and len(size) == 3 and all(is_int(v) for v in size)):
            raise TypeError("size")
        height, width, channels = size
        levels, preset, synthesis, omega = header["levels"], header["preset"], header["synthesis"], header["omega"]
    except (KeyError, TypeError) as err:
        raise SirenInrError(f".inr file is damaged: its latent header lacks or garbles {err}") from None
    if not (1 <= height <= MAX_SIDE_PX and 1 <= width <= MAX_SIDE_PX and 1 <= channels <= 4):
        raise SirenInrError(f".inr file gives an image size {height}x{width}x{channels} outside what is accepted")
    try:
        arch = Architecture(height, width, channels, levels, preset, synthesis, omega)
    except SirenInrError as err:
        raise SirenInrError(f".inr file cannot be decoded: {err}") from None
    # float64 features and activations (the widest preset: 48 channels), the grids' int64 buffers, the image
    container.check_decode_memory(height, width, channels, 8 * (2 * levels + 2 * 48 + 4 * channels + 4))
    return arch


def decode_latent3(parsed: container.Container, num_bytes: int) -> DecodedLatent:
    """Decode a parsed version-3 latent-codec container (see codec.decode_inr)."""
    arch = read_header(parsed.header)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        networks = LatentNetworks(arch).eval()
    if parsed.header.get("layout") != layout_fingerprint(networks):
        raise SirenInrError(".inr file's latent-codec layout differs from this installation's networks; "
                            "it is damaged or was written by an incompatible version")
    reader = container.ByteReader(parsed.payload, "latent payload")
    read_weight_groups(reader, networks)
    try:
        arm = IntegerArm.from_arm(networks.arm)
    except ValueError:
        raise SirenInrError(".inr file is damaged: its entropy model's weights are not on the fixed-point grid") from None
    grids = decode_grids(arm, reader.rest(), arch.level_shapes())
    image_u8 = render(networks, grids)
    return DecodedLatent(image_u8, arch.height, arch.width, arch.channels, num_bytes, arch, grids, networks)


def encode_latent3(image: np.ndarray, arch_settings: dict[str, Any], train: LatentTrainSettings,
                   trained: TrainedLatents | None = None) -> EncodedLatent:
    """Train (unless `trained` is given), quantize and code one image [H, W, C] in [0, 1] as a version-3 file."""
    image = image_hwc(image)
    arch = Architecture(*image.shape, **arch_settings)
    if trained is None:
        trained = train_latents(image, arch, train)
    networks, target = trained.networks.eval(), torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    ints = [torch.round(y).clamp(LATENT_MIN, LATENT_MAX) for y in trained.latents]
    weights = quantize_networks(networks, ints, target, train.lam)
    with torch.no_grad():
        estimated_bits = float(networks.rate_bits(ints))
    grids = [y.numpy().astype(np.int64) for y in ints]
    latent_bytes, ideal_bits = encode_grids(IntegerArm.from_arm(networks.arm), grids)
    header = _header(arch, layout_fingerprint(networks))
    data = container.pack(header, weights + latent_bytes, version=FORMAT_VERSION, codec="latent")
    started = time.perf_counter()
    decoded = decode_latent3(container.unpack(data), len(data))
    decode_seconds = time.perf_counter() - started
    if not all(np.array_equal(a, b) for a, b in zip(decoded.latents, grids)):
        raise RuntimeError("latent codec: the decoder's latents differ from the encoder's (entropy model mismatch)")
    info = encoding_info(data, latent_bytes, weights, train, trained.seconds, decode_seconds, networks,
                         num_latents=int(sum(g.size for g in grids)), bits=(ideal_bits, estimated_bits))
    return EncodedLatent(data, decoded, info)
