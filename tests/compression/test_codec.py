"""The INR codec: exact round trips for every quantization mode and rejection of damaged files."""

from pathlib import Path

import numpy as np
import pytest
import torch

from siren_inr.compression import container
from siren_inr.compression.codec import (
    decode_inr,
    encode_inr,
    quantized_state,
    read_inr,
    render,
    write_inr,
)
from siren_inr.compression.quantize import QuantSettings
from siren_inr.errors import SirenInrError
from siren_inr.metrics.quality import psnr_db
from siren_inr.models import build_model
from testkit import assert_refuses_damage

H, W, C = 12, 10, 3


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("siren", in_features=2, out_features=C, hidden_features=12, hidden_layers=2)


@pytest.fixture(scope="module")
def reference():
    return np.random.default_rng(0).uniform(size=(H, W, C)).astype(np.float32)


MODES = [
    QuantSettings(mode="uniform", bits=8),
    QuantSettings(mode="uniform", bits=6, sensitive_bits=None),
    QuantSettings(mode="uniform", bits=10, sensitive_bits=4),
    QuantSettings(mode="uniform", bits=5, per_channel=True),
    QuantSettings(mode="uniform", bits=12),
    QuantSettings(mode="fp16"),
    QuantSettings(mode="fp32"),
]


@pytest.mark.parametrize("quant", MODES,
                         ids=lambda q: f"{q.mode}{q.bits}s{q.sensitive_bits}{'c' if q.per_channel else ''}")
def test_round_trip_is_exact_and_reports_what_decoding_gives(model, reference, quant, tmp_path):
    encoded = encode_inr(model, H, W, C, quant, reference=reference)
    path = tmp_path / "x.inr"
    write_inr(path, encoded.data)
    first, second = read_inr(path), decode_inr(path.read_bytes())
    assert np.array_equal(first.image_u8, second.image_u8)
    assert np.array_equal(first.image_u8, encoded.decoded.image_u8)
    assert psnr_db(first.image, reference) == encoded.psnr_db
    assert encoded.bpp == 8 * path.stat().st_size / (H * W)
    # The decoder's weights are exactly the encoder-side quantized weights.
    expected = quantized_state(model, quant)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert (first.arch, first.height, first.width, first.channels, first.quant) == ("siren", H, W, C, quant)
    # The image is the quantized network's output, rendered independently here.
    torch_img = ((first.model(torch.from_numpy(np.stack(np.meshgrid(
        np.linspace(-1, 1, W, dtype=np.float32), np.linspace(-1, 1, H, dtype=np.float32)), -1).reshape(-1, 2)))
        .detach().reshape(H, W, C) + 1) / 2).clamp(0, 1)
    assert np.abs(first.image - torch_img.numpy()).max() <= 0.5 / 255 + 1e-6


def test_fp32_is_lossless_and_smaller_modes_are_smaller(model):
    sizes = {q.mode + str(q.bits): encode_inr(model, H, W, C, q).num_bytes for q in MODES}
    five_bits = encode_inr(model, H, W, C, QuantSettings(bits=5)).num_bytes
    sizes["uniform8"] = encode_inr(model, H, W, C, QuantSettings(bits=8)).num_bytes
    assert five_bits < sizes["uniform8"] < sizes["fp168"] < sizes["fp328"]
    lossless = decode_inr(encode_inr(model, H, W, C, QuantSettings(mode="fp32")).data)
    assert np.array_equal(lossless.image_u8, render(model, H, W, C))


def test_sensitive_tensors_get_their_own_bit_depth(model):
    quant = QuantSettings(bits=3, sensitive_bits=14)
    state = model.state_dict()
    assert quant.bits_for(tuple(state["net.0.linear.weight"].shape)) == 14  # acts on the 2 coordinates
    assert quant.bits_for(tuple(state["net.1.linear.bias"].shape)) == 14
    assert quant.bits_for(tuple(state["net.1.linear.weight"].shape)) == 3
    decoded = decode_inr(encode_inr(model, H, W, C, quant).data)
    assert "+" in decoded.method  # two entropy-coded blocks
    for key, value in decoded.model.state_dict().items():
        levels = len(torch.unique(value))
        assert levels <= (8 if quant.bits_for(tuple(value.shape)) == 3 else value.numel())
        if key == "net.0.linear.weight":
            assert torch.allclose(value, state[key], atol=float(state[key].abs().max()) * 2**-13)


def test_random_bit_flips_and_truncations_never_pass(model):
    data = encode_inr(model, H, W, C, QuantSettings(bits=6)).data
    assert_refuses_damage(decode_inr, data, flips=300, cuts=120)
    with pytest.raises(SirenInrError):
        decode_inr(data + b"\x00")
    for foreign in [b"", b"hello world", b"\x89PNG\r\n\x1a\n" + bytes(64)]:
        with pytest.raises(SirenInrError, match="not an .inr file"):
            decode_inr(foreign)


def _forge(data, **changes):
    parsed = container.unpack(data)
    header = dict(parsed.header)
    header.update(changes)
    return container.pack(header, parsed.payload)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"arch": "os.system"}, "accepted"),
        ({"arch": "relu"}, "unknown hyperparameter"),
        ({"arch": "relu", "hparams": {"in_features": 2, "out_features": C, "hidden_features": 12,
                                      "hidden_layers": 2}}, "layout"),
        ({"size": [H, W]}, "size"),
        ({"size": [1 << 20, W, C]}, "outside"),
        ({"hparams": {"hidden_features": 10**9}}, "above"),
        ({"hparams": {"in_features": 2, "out_features": C, "hidden_features": "import os", "hidden_layers": 2}},
         "integer"),
        ({"quant": {"mode": "uniform", "bits": 40, "per_channel": False}}, "bits"),
        ({"layout": 12345}, "layout"),
    ],
)
def test_checksummed_but_inconsistent_headers_are_rejected(model, changes, message):
    data = encode_inr(model, H, W, C, QuantSettings(bits=8)).data
    with pytest.raises(SirenInrError, match=message):
        decode_inr(_forge(data, **changes))


def test_checksummed_but_short_payload_is_rejected(model):
    data = encode_inr(model, H, W, C, QuantSettings(bits=8)).data
    parsed = container.unpack(data)
    for cut in (0, 3, len(parsed.payload) // 2, len(parsed.payload) - 1):
        with pytest.raises(SirenInrError):
            decode_inr(container.pack(parsed.header, parsed.payload[:cut]))


def test_encode_validates_inputs(model, tmp_path):
    with pytest.raises(SirenInrError, match="channels"):
        encode_inr(model, H, W, 1)
    with pytest.raises(SirenInrError, match="accepted"):
        encode_inr(model, H, W, C, QuantSettings(mode="fp16"), coder="range")
    with pytest.raises(SirenInrError, match="does not exist"):
        read_inr(tmp_path / "missing.inr")
    with pytest.raises(SirenInrError, match="not a registered model"):
        encode_inr(torch.nn.Linear(2, 3), H, W, C)


DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["v1_siren_12x10", "v1_nerf_9x7_fp16"])
def test_version_1_files_written_before_version_2_still_decode_to_the_same_pixels(name):
    data = (DATA / f"{name}.inr").read_bytes()
    assert data[4] == 1
    decoded = decode_inr(data)
    assert decoded.codec == "coin"
    assert np.array_equal(decoded.image_u8, np.load(DATA / f"{name}_decoded.npy"))


def test_coin_still_writes_version_1_and_siren_pe_writes_version_2(model, reference):
    coin = encode_inr(model, H, W, C, QuantSettings(bits=8))
    assert coin.data == (DATA / "v1_siren_12x10.inr").read_bytes()  # byte for byte what it always wrote
    pe = encode_inr(model, H, W, C, QuantSettings(bits=8), codec="siren_pe")
    assert pe.data[4] == 2 and container.unpack(pe.data).codec == "siren_pe"
    assert np.array_equal(decode_inr(pe.data).image_u8, coin.decoded.image_u8)
    with pytest.raises(SirenInrError, match="accepted: coin, siren_pe"):
        encode_inr(model, H, W, C, codec="latent")


def test_a_small_file_claiming_a_huge_image_is_refused_before_allocating(model, monkeypatch):
    monkeypatch.setattr(container, "available_memory_bytes", lambda: 16 * container.GIB)
    data = _forge(encode_inr(model, H, W, C, QuantSettings(bits=8)).data, size=[32768, 32768, C])
    assert len(data) < 8000
    with pytest.raises(SirenInrError, match="32768x32768x3 image, which needs about") as err:
        decode_inr(data)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name, codec", [("v2_latent_14x11", "latent"), ("v2_siren_pe_14x11", "siren_pe")])
def test_version_2_files_written_before_version_3_still_decode_to_the_same_pixels(name, codec):
    data = (DATA / f"{name}.inr").read_bytes()
    assert data[4] == 2
    decoded = decode_inr(data)
    assert decoded.codec == codec
    assert np.array_equal(decoded.image_u8, np.load(DATA / f"{name}_decoded.npy"))
