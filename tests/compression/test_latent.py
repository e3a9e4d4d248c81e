"""The latent codec: exact round trips, the rate estimate against the real file, the coding passes, damage."""

import math

import numpy as np
import pytest
import torch

from siren_inr.compression import container
from siren_inr.compression.codec import decode_inr, read_inr, write_inr
from siren_inr.compression.latent import codec as latent_codec
from siren_inr.compression.latent.entropy import (
    ContextEntropyModel,
    checkerboard,
    decode_latents,
    encode_latents,
    laplace_bits,
    rate_bits,
)
from siren_inr.compression.latent.model import LatentArchitecture, LatentDecoder
from siren_inr.compression.latent.train import LatentTrainSettings
from siren_inr.errors import SirenInrError
from testkit import assert_refuses_damage

ARCH = {"levels": 4, "hidden_features": 8, "hidden_layers": 1, "refine": 2, "entropy_hidden": 4}


def _image(height, width, seed=0):
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    base = np.stack([np.sin(6 * x + 1), np.cos(5 * y), np.sin(3 * x * y + 2)], -1) * 0.4 + 0.5
    return np.clip(base + 0.03 * rng.standard_normal(base.shape), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def encoded():
    torch.manual_seed(0)
    return latent_codec.encode_latent_image(_image(18, 23), ARCH, LatentTrainSettings(lam=1e-4, steps=60, lr=0.05))


def test_round_trip_is_exact_and_the_file_is_version_2_latent(encoded, tmp_path):
    path = tmp_path / "x.inr"
    write_inr(path, encoded.data)
    first, second = read_inr(path), decode_inr(encoded.data)
    assert np.array_equal(first.image_u8, encoded.decoded.image_u8)
    assert np.array_equal(second.image_u8, encoded.decoded.image_u8)
    assert first.image_u8.shape == (18, 23, 3) and first.codec == "latent"
    parsed = container.unpack(encoded.data)
    assert (parsed.version, parsed.codec) == (2, "latent")
    assert first.bpp == 8 * path.stat().st_size / (18 * 23) == encoded.info["bpp"]
    # The image is the decoded networks' output on the decoded integer latents, rendered independently.
    assert all(torch.equal(y, torch.round(y)) for y in first.latents)
    with torch.no_grad():
        direct = first.networks(first.latents).clamp(0, 1).permute(1, 2, 0).numpy()
    assert np.abs(first.image - direct).max() <= 0.5 / 255 + 1e-6
    parts = encoded.info["latent_bytes"] + encoded.info["weight_bytes"] + encoded.info["header_bytes"]
    assert parts == len(encoded.data)


def test_rate_estimate_matches_the_real_latent_bytes():
    # A random entropy model on random integer latents: the range coder's output is within a few % of the ideal.
    torch.manual_seed(1)
    model = ContextEntropyModel(3, 6)
    with torch.no_grad():
        model.offsets[:, :, 1] += 1.0
    latents = [torch.round(torch.randn(s) * 3) for s in [(40, 52), (20, 26), (10, 13)]]
    low, high = int(min(y.min() for y in latents)), int(max(y.max() for y in latents))
    data, ideal_bits = encode_latents(model, latents, low, high)
    with torch.no_grad():
        estimate = float(rate_bits(model, latents))
    assert abs(8 * len(data) - ideal_bits) <= 0.02 * ideal_bits + 64
    assert abs(estimate - ideal_bits) <= 0.03 * ideal_bits  # the rounded coded model costs little
    decoded = decode_latents(model, data, [tuple(y.shape) for y in latents], low, high)
    assert all(torch.equal(a, b) for a, b in zip(decoded, latents))


def test_trained_file_estimate_against_real_size(encoded):
    info = encoded.info
    assert (abs(8 * info["latent_bytes"] - info["latent_bits_coded_model"])
            <= 0.03 * info["latent_bits_coded_model"] + 64)
    assert (abs(info["latent_bits_estimate"] - info["latent_bits_coded_model"])
            <= 0.05 * info["latent_bits_estimate"] + 64)


def test_laplace_bits_match_the_cdf_difference():
    y = torch.arange(-12, 13, dtype=torch.float64)
    for mean, scale in [(0.0, 1.0), (0.3, 0.4), (-2.7, 3.0), (5.2, 0.1)]:
        dist = torch.distributions.Laplace(torch.tensor(mean, dtype=torch.float64),
                                           torch.tensor(scale, dtype=torch.float64))
        p = dist.cdf(y + 0.5) - dist.cdf(y - 0.5)
        expected = -torch.log2(p.clamp_min(2.0**-24))
        got = laplace_bits(y, torch.full_like(y, mean), torch.full_like(y, math.log(scale)))
        assert torch.allclose(got, expected, rtol=1e-6, atol=1e-4), (mean, scale)


def test_contexts_see_only_decoded_neighbours():
    model = ContextEntropyModel(1, 3)
    grid = torch.arange(1.0, 21.0).reshape(4, 5)
    parent = torch.full((4, 5), 7.0)
    ctx = model.contexts(grid, parent)
    anchors = checkerboard(4, 5)
    for r in range(4):
        for c in range(5):
            def known(i, j):
                return float(grid[i, j]) if 0 <= i < 4 and 0 <= j < 5 and bool(anchors[i, j]) else 0.0
            if anchors[r, c]:
                expected = [0, 0, 0, 0, 7, 0]
            else:
                expected = [known(r - 1, c), known(r + 1, c), known(r, c - 1), known(r, c + 1), 7, 1]
            assert ctx[r, c].tolist() == expected, (r, c)


def test_the_coding_passes_compute_the_training_model():
    torch.manual_seed(2)
    model = ContextEntropyModel(2, 5)
    grid, parent = torch.round(torch.randn(7, 9) * 2), torch.randn(7, 9)
    mean, log_scale = model.parameters_of(1, grid, parent)
    anchors = checkerboard(7, 9)
    for second, mask in ((False, anchors), (True, ~anchors)):
        m, s = model.parameters_at(1, torch.where(anchors, grid, 0.0) if second else torch.zeros_like(grid), parent,
                                   second)
        assert torch.allclose(m, mean[mask], atol=1e-6) and torch.allclose(s, log_scale[mask], atol=1e-6)


def test_multiplications_per_pixel_by_hand():
    arch = LatentArchitecture(16, 16, 3, levels=3, hidden_features=8, hidden_layers=1, refine=2, entropy_hidden=4)
    decoder = LatentDecoder(arch)
    latents_per_pixel = (256 + 64 + 16) / 256
    expected = 16 * 2 + (3 * 8 + 8 * 8 + 8 * 3) + 9 * (3 * 2 + 2 * 3) + latents_per_pixel * (6 * 4 + 4 * 2 + 4)
    assert decoder.multiplications_per_pixel() == pytest.approx(expected)


def test_weight_groups_round_trip_and_coarser_steps_cost_fewer_bytes():
    values = np.random.default_rng(0).normal(0, 0.3, 500).astype(np.float32)
    sizes = []
    for k in (2, 5, 9):
        blob, dequantized = latent_codec.encode_weight_group(values, k)
        assert np.abs(dequantized - values).max() <= 2.0**-k / 2 + 1e-7
        decoded = latent_codec.decode_weight_group(container.ByteReader(blob), values.size)
        assert np.array_equal(decoded, dequantized)
        sizes.append(len(blob))
    assert sizes[0] < sizes[1] < sizes[2]


def test_every_bit_flip_and_truncation_of_a_latent_file_is_refused(encoded):
    assert_refuses_damage(decode_inr, encoded.data, flips=200, cuts=60)


def _forge(data, **changes):
    parsed = container.unpack(data)
    header = {**parsed.header, **changes}
    return container.pack(header, parsed.payload, version=2, codec="latent")


@pytest.mark.parametrize("changes, message", [
    ({"levels": 50}, "garbles|levels"),
    ({"size": [18, 23]}, "size"),
    ({"size": [1 << 20, 23, 3]}, "outside"),
    ({"latent_range": [5, 2]}, "latent_range"),
    ({"latent_range": "x"}, "latent_range"),
    ({"upsampling": "os.system"}, "upsampling"),
    ({"synthesis": {"arch": "builtins.eval", "hparams": {"in_features": 4, "out_features": 3, "hidden_features": 8,
                                                         "hidden_layers": 1}}}, "synthesis"),
    ({"entropy": {"hidden": 10**6}}, "accepted"),
    ({"refine": 3}, "layout"),
    ({"layout": 1}, "layout"),
])
def test_checksummed_but_inconsistent_latent_headers_are_refused(encoded, changes, message):
    with pytest.raises(SirenInrError, match=message):
        decode_inr(_forge(encoded.data, **changes))


def test_a_latent_file_claiming_a_huge_image_is_refused_with_one_line(encoded, monkeypatch):
    monkeypatch.setattr(container, "available_memory_bytes", lambda: 16 * container.GIB)
    with pytest.raises(SirenInrError, match="32768x32768x3 image") as err:
        decode_inr(_forge(encoded.data, size=[32768, 32768, 3]))
    assert "\n" not in str(err.value)


def test_network_learning_rate_is_its_own_setting():
    from siren_inr.compression.latent.train import train_latents

    with pytest.raises(SirenInrError, match="latent network_lr=0"):
        LatentTrainSettings(network_lr=0)
    image, arch = _image(12, 12), LatentArchitecture(12, 12, 3, levels=3, refine=0)
    same = train_latents(image, arch, LatentTrainSettings(steps=5, lr=0.05))
    explicit = train_latents(image, arch, LatentTrainSettings(steps=5, lr=0.05, network_lr=0.05))
    frozen = train_latents(image, arch, LatentTrainSettings(steps=5, lr=0.05, network_lr=1e-12))
    for a, b in zip(same.networks.parameters(), explicit.networks.parameters()):
        assert torch.equal(a, b)  # None means the latents' rate
    for a, b in zip(same.latents, frozen.latents):
        assert not torch.equal(a, b)  # the networks' rate changes the latents' path too
    moved = max(float((a - b).abs().max()) for a, b in zip(same.networks.parameters(), frozen.networks.parameters()))
    assert moved > 1e-3
