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

from typing import Any

import numpy as np
import torch

from siren_inr.compression import container
from siren_inr.compression.latent.arm import LATENT_MAX, LATENT_MIN, IntegerArm
from siren_inr.compression.latent.codec import (DecodedLatent, EncodedLatent, finish_encoding, grids_header,
                                                 layout_fingerprint, load_networks, prepare_encoding,
                                                 quantize_groups, read_size)
from siren_inr.compression.latent.network import Architecture, LatentNetworks
from siren_inr.compression.latent.training import LatentTrainSettings, TrainedLatents, train_latents
from siren_inr.compression.latent.wavefront import decode_grids, encode_grids
from siren_inr.errors import SirenInrError

FORMAT_VERSION = 3


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
    return {**grids_header(arch, layout), "preset": arch.preset, "synthesis": arch.synthesis,
            "omega": float(arch.omega)}


def read_header(header: dict[str, Any]) -> Architecture:
    """The architecture a version-3 header describes; damage and unaccepted values are SirenInrErrors."""
    height, width, channels = read_size(header)
    try:
        levels, preset, synthesis, omega = header["levels"], header["preset"], header["synthesis"], header["omega"]
    except KeyError as err:
        raise SirenInrError(f".inr file is damaged: its latent header lacks or garbles {err}") from None
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
    networks, reader = load_networks(parsed, LatentNetworks, arch)
    try:
        arm = IntegerArm.from_arm(networks.arm)
    except ValueError:
        raise SirenInrError(".inr file is damaged: "
                            "its entropy model's weights are not on the fixed-point grid") from None
    grids = decode_grids(arm, reader.rest(), arch.level_shapes())
    image_u8 = render(networks, grids)
    return DecodedLatent(image_u8, arch.height, arch.width, arch.channels, num_bytes, arch, grids, networks,
                         method="range-arm")


def encode_latent3(image: np.ndarray, arch_settings: dict[str, Any], train: LatentTrainSettings,
                   trained: TrainedLatents | None = None) -> EncodedLatent:
    """Train (unless `trained` is given), quantize and code one image [H, W, C] in [0, 1] as a version-3 file."""
    arch, trained, target = prepare_encoding(image, Architecture, arch_settings, train_latents, train, trained)
    networks = trained.networks
    ints = [torch.round(y).clamp(LATENT_MIN, LATENT_MAX) for y in trained.latents]
    weights = quantize_networks(networks, ints, target, train.lam)
    with torch.no_grad():
        estimated_bits = float(networks.rate_bits(ints))
    grids = [y.numpy().astype(np.int64) for y in ints]
    latent_bytes, ideal_bits = encode_grids(IntegerArm.from_arm(networks.arm), grids)
    header = _header(arch, layout_fingerprint(networks))
    return finish_encoding(header, weights, latent_bytes, FORMAT_VERSION, decode_latent3, grids, train, trained,
                           (ideal_bits, estimated_bits))
