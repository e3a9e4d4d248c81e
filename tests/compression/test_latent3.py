"""The latent codec's format version 3: round trips of every preset, the integer ARM, wavefront order, damage."""

import zlib

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from siren_inr.compression import container
from siren_inr.compression.codec import decode_inr, read_inr, write_inr
from siren_inr.compression.latent import arm as arm_module
from siren_inr.compression.latent.arm import CONTEXT_OFFSETS, Arm, IntegerArm, wavefront_slope
from siren_inr.compression.latent.bitstream import encode_latent3
from siren_inr.compression.latent.network import Architecture, LatentNetworks
from siren_inr.compression.latent.synthesis import PRESETS, Upsampler
from siren_inr.compression.latent.training import LatentTrainSettings, soft_round
from siren_inr.compression.latent.wavefront import Wavefront, decode_grids, encode_grids
from siren_inr.errors import SirenInrError

QUICK = {"steps": 40, "candidates": 2, "warmup_steps": 5, "final_fraction": 0.2}


def _image(height, width, seed=0):
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    base = np.stack([np.sin(6 * x + 1), np.cos(5 * y), np.sin(3 * x * y + 2)], -1) * 0.4 + 0.5
    return np.clip(base + 0.03 * rng.standard_normal(base.shape), 0, 1).astype(np.float32)


def _quantized_arm(levels, context, features, seed=0, spread=0.3):
    torch.manual_seed(seed)
    arm = Arm(levels, context, features)
    with torch.no_grad():
        for p in arm.parameters():
            p.add_(spread * torch.randn_like(p))
            p.copy_(torch.round(p * 256) / 256)  # on the 2**-8 grid, as the weight quantizer leaves them
    return arm


@pytest.fixture(scope="module")
def encoded():
    return encode_latent3(_image(19, 26), {"levels": 4}, LatentTrainSettings(lam=1e-3, **QUICK))


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("synthesis", ["relu", "sine"])
def test_every_preset_and_synthesis_round_trips_exactly_as_version_3(preset, synthesis, tmp_path):
    image = _image(13, 17, seed=1)
    enc = encode_latent3(image, {"levels": 3, "preset": preset, "synthesis": synthesis, "omega": 2.0},
                         LatentTrainSettings(lam=1e-3, steps=12, candidates=1, final_fraction=0.25))
    path = tmp_path / "x.inr"
    write_inr(path, enc.data)
    decoded = read_inr(path)
    assert np.array_equal(decoded.image_u8, enc.decoded.image_u8)
    assert decoded.image_u8.shape == (13, 17, 3) and decoded.codec == "latent"
    parsed = container.unpack(enc.data)
    assert (parsed.version, parsed.codec) == (3, "latent")
    assert decoded.architecture == Architecture(13, 17, 3, 3, preset, synthesis, 2.0)
    assert enc.info["num_bytes"] == len(enc.data) == path.stat().st_size


def test_presets_cost_about_500_1000_2000_multiplications_per_pixel():
    costs = {p: LatentNetworks(Architecture(512, 768, 3, 7, p)).multiplications_per_pixel() for p in PRESETS}
    assert 400 <= costs["lop"] <= 600 and 850 <= costs["mop"] <= 1150 and 1700 <= costs["hop"] <= 2300
    # the ARM of lop: 8 inputs, two 8x8 residual layers, output and stabiliser (160 a latent, 4/3 latents a pixel)
    assert LatentNetworks(Architecture(256, 256, 3)).arm.multiplications_per_latent() == 160


def test_the_decoded_image_is_the_networks_output_on_the_decoded_integer_latents(encoded):
    decoded = decode_inr(encoded.data)
    assert all(g.dtype == np.int64 for g in decoded.latents)
    with torch.no_grad():
        direct = decoded.networks([torch.from_numpy(g).float() for g in decoded.latents]).clamp(0, 1)
    assert np.abs(decoded.image - direct.permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-5
    info = encoded.info
    assert info["latent_bytes"] + info["weight_bytes"] + info["header_bytes"] == len(encoded.data)


def test_decoding_gives_the_same_pixels_with_one_and_two_threads(encoded):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = decode_inr(encoded.data).image_u8
        torch.set_num_threads(2)
        two = decode_inr(encoded.data).image_u8
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one, two) and np.array_equal(one, encoded.decoded.image_u8)


def test_the_integer_arm_follows_the_float_arm_to_its_output_grid():
    arm = _quantized_arm(levels=4, context=6, features=2)
    rng = np.random.default_rng(0)
    contexts = rng.integers(-5, 6, size=(500, 8)).astype(np.int64)
    contexts[:, 6:] = rng.integers(-300, 300, size=(500, 2))  # features on their 8-bit fixed point
    means, log_scales = IntegerArm.from_arm(arm).indices(contexts[:, :6], contexts[:, 6:] << 8)
    x = torch.from_numpy(np.concatenate([contexts[:, :6], contexts[:, 6:] / 256.0], axis=1)).float()
    with torch.no_grad():
        float_mean, float_log_scale = arm.double()(x.double())
    assert np.abs(means / 256 - float_mean.numpy()).max() <= 2 / 256
    assert np.abs(log_scales / 256 - float_log_scale.numpy()).max() <= 2 / 256


def test_the_integer_arm_does_not_depend_on_how_positions_are_batched():
    integer = IntegerArm.from_arm(_quantized_arm(levels=3, context=10, features=4, spread=1.0))
    rng = np.random.default_rng(1)
    contexts = rng.integers(-64, 64, size=(300, 10))
    features = rng.integers(-(1 << 20), 1 << 20, size=(300, 4))
    together = integer.indices(contexts, features)
    one_by_one = [integer.indices(contexts[i : i + 1], features[i : i + 1]) for i in range(300)]
    assert np.array_equal(together[0], np.concatenate([m for m, _ in one_by_one]))
    assert np.array_equal(together[1], np.concatenate([s for _, s in one_by_one]))


def test_an_unquantized_arm_is_refused_by_the_integer_path():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="not a multiple"):
        IntegerArm.from_arm(Arm(3, 6, 2))  # normal-initialised weights are not on a 2**-16 grid


@pytest.mark.parametrize("context", [6, 10, 14, 20])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (5, 8), (9, 4)])
def test_every_neighbour_is_decoded_in_an_earlier_wavefront_step(context, shape):
    offsets = CONTEXT_OFFSETS[:context]
    front = Wavefront.of(*shape, offsets)
    rows, cols = shape
    step_of = np.empty(rows * cols, dtype=np.int64)
    for step in range(front.steps):
        step_of[front.raster[front.bounds[step] : front.bounds[step + 1]]] = step
    assert sorted(front.raster.tolist()) == list(range(rows * cols))  # every latent exactly once
    for index in range(rows * cols):
        r, c = divmod(index, cols)
        for dr, dc in offsets:
            if 0 <= r + dr < rows and 0 <= c + dc < cols:
                assert step_of[(r + dr) * cols + c + dc] < step_of[index]
    # and the buffer positions point at each latent's own cell
    buffer = front.buffer(np.arange(rows * cols).reshape(rows, cols) + 1)
    assert np.array_equal(buffer[front.positions] - 1, front.raster)


def test_wavefront_slopes_and_step_counts():
    assert [wavefront_slope(CONTEXT_OFFSETS[:n]) for n in (6, 10, 14, 20)] == [2, 2, 3, 4]
    shapes = Architecture(512, 768, 3).level_shapes()
    assert sum(Wavefront.of(*s, CONTEXT_OFFSETS[:6]).steps for s in shapes) == 3542


def test_wavefront_coding_round_trips_and_matches_the_ideal_length():
    arm = _quantized_arm(levels=4, context=6, features=2, spread=0.02)
    with torch.no_grad():  # a model that roughly fits the data (scale 1.5)
        for p in (arm.out.weight, arm.stabiliser.weight):
            p.copy_(torch.round(0.02 * torch.randn_like(p) * 256) / 256)
        arm.out.bias.copy_(torch.tensor([0.0, round((np.log(1.5) + 4) * 256) / 256]))
    rng = np.random.default_rng(2)
    shapes = Architecture(40, 56, 3, levels=4).level_shapes()
    grids = [np.clip(np.rint(rng.laplace(0, 1.5, s)), -64, 63).astype(np.int64) for s in shapes]
    integer = IntegerArm.from_arm(arm)
    data, ideal = encode_grids(integer, grids)
    decoded = decode_grids(integer, data, shapes)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))
    assert abs(8 * len(data) - ideal) <= 0.01 * ideal + 32  # the range coder's last word aside
    with torch.no_grad():
        estimate = float(arm.rate_bits([torch.from_numpy(g).float() for g in grids]))
    assert abs(estimate - ideal) <= 0.01 * ideal


def test_estimated_rate_is_within_one_percent_of_the_real_file():
    enc = encode_latent3(_image(64, 64, seed=3), {"levels": 5}, LatentTrainSettings(lam=2e-4, **QUICK))
    info = enc.info
    estimated_bytes = info["latent_bits_estimate"] / 8 + info["weight_bytes"] + info["header_bytes"]
    assert info["latent_bytes"] > 200
    assert abs(estimated_bytes - len(enc.data)) <= 0.01 * len(enc.data)


def test_the_upsampler_starts_as_bicubic_and_the_prefilters_as_identity():
    upsampler = Upsampler(3).double()
    rng = np.random.default_rng(4)
    grids = [torch.from_numpy(rng.standard_normal(s)) for s in ((20, 30), (10, 15), (5, 8))]
    with torch.no_grad():
        out = upsampler(grids)
    assert out.shape == (3, 20, 30)
    assert torch.equal(out[2], grids[0])  # the finest grid, through an identity pre-filter
    ref = F.interpolate(grids[1][None, None], size=(20, 30), mode="bicubic", align_corners=False)[0, 0]
    assert torch.allclose(out[1], ref, atol=1e-12)


def test_soft_round_tends_to_round_and_to_identity():
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    assert torch.allclose(soft_round(x, 1e-3), torch.round(x), atol=1e-6) or \
        (soft_round(x, 1e-3) - torch.round(x)).abs().max() <= 0.5  # ties at .5 go either way
    assert torch.allclose(soft_round(x, 100.0), x, atol=1e-4)


def test_the_scale_table_is_checked_against_its_checksum(monkeypatch):
    arm_module.checked_scales()
    monkeypatch.setattr(arm_module, "_SCALES", arm_module._SCALES * (1 + 1e-12))
    with pytest.raises(SirenInrError, match="scale table"):
        arm_module.checked_scales()


def _reforged(data: bytes, header_edit=None, payload_edit=None) -> bytes:
    parsed = container.unpack(data)
    header = dict(parsed.header)
    if header_edit:
        header_edit(header)
    payload = payload_edit(parsed.payload) if payload_edit else parsed.payload
    return container.pack(header, payload, version=3, codec="latent")


def test_damaged_truncated_and_forged_version_3_files_are_refused(encoded):
    data = encoded.data
    with pytest.raises(SirenInrError, match="checksum"):
        decode_inr(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(SirenInrError):
        decode_inr(data[: len(data) // 2])
    with pytest.raises(SirenInrError, match="preset"):
        decode_inr(_reforged(data, lambda h: h.update(preset="xop")))
    with pytest.raises(SirenInrError, match="layout"):
        decode_inr(_reforged(data, lambda h: h.update(levels=3)))
    with pytest.raises(SirenInrError, match="lacks or garbles"):
        decode_inr(_reforged(data, lambda h: h.pop("size")))
    with pytest.raises(SirenInrError):
        decode_inr(_reforged(data, payload_edit=lambda p: p[:5]))
    # garbage latents decode to some image or are refused, never crash or hang
    rng = np.random.default_rng(5)
    for _ in range(5):
        def garble(p):
            cut = encoded.info["weight_bytes"]
            return p[:cut] + rng.integers(0, 256, len(p) - cut, dtype=np.uint8).tobytes()
        try:
            out = decode_inr(_reforged(data, payload_edit=garble))
            assert out.image_u8.shape == encoded.decoded.image_u8.shape
        except SirenInrError:
            pass


def test_a_forged_file_claiming_a_huge_image_is_refused_before_allocating(encoded, monkeypatch):
    monkeypatch.setattr(container, "available_memory_bytes", lambda: 16 * container.GIB)
    with pytest.raises(SirenInrError, match="needs about"):
        decode_inr(_reforged(encoded.data, lambda h: h.update(size=[30000, 30000, 3])))


def test_file_checksum_covers_the_version_byte(encoded):
    body = bytearray(encoded.data[:-4])
    body[4] = 2
    forged = bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "big")
    with pytest.raises(SirenInrError):
        decode_inr(forged)  # a version-3 payload read as version 2 is refused, not misdecoded
