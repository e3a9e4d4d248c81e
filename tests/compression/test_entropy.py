"""Entropy coding: every method round-trips; auto keeps the smallest; the range coder earns its keep."""

import lzma
import math

import numpy as np
import pytest

from siren_inr.compression import entropy
from siren_inr.errors import SirenInrError


def _groups(bits, rng):
    top = (1 << bits) - 1
    peaked = np.clip(np.rint(rng.normal(top / 2, max(top / 12, 0.3), 2000)), 0, top).astype(np.int64)
    return [rng.integers(0, top + 1, 150), np.zeros(0, np.int64), peaked, np.full(5, top, np.int64)]


@pytest.mark.parametrize("bits", [1, 3, 8, 10, 16])
@pytest.mark.parametrize("method", entropy.CODERS)
def test_every_method_round_trips(bits, method):
    groups = _groups(bits, np.random.default_rng(bits))
    block = entropy.encode_symbols(groups, bits, method)
    decoded = entropy.decode_symbols(block, [len(g) for g in groups], bits)
    assert [d.tolist() for d in decoded] == [g.tolist() for g in groups]
    if method != "auto":
        assert entropy.describe_symbol_block(block) == method


def test_auto_keeps_the_smallest_and_raw_is_the_nominal_rate():
    groups = _groups(8, np.random.default_rng(0))
    sizes = entropy.method_sizes(groups, 8)
    n = sum(len(g) for g in groups)
    assert sizes["raw"] == 1 + math.ceil(n * 8 / 8)
    assert len(entropy.encode_symbols(groups, 8, "auto")) == min(sizes.values())


def test_range_coder_is_close_to_the_empirical_entropy():
    rng = np.random.default_rng(3)
    probs = np.array([0.5, 0.25, 0.125, 0.0625, 0.0625])
    symbols = rng.choice(5, size=20000, p=probs)
    counts = np.bincount(symbols, minlength=5) / symbols.size
    entropy_bits = -(counts * np.log2(counts)).sum() * symbols.size
    size = len(entropy.encode_symbols([symbols], 3, "range"))
    # Payload within 1% of the Shannon bound plus the tiny stored model; well below raw (3 bits) and lzma.
    assert size * 8 <= entropy_bits * 1.01 + 8 * 16
    assert size < len(entropy.encode_symbols([symbols], 3, "raw")) * 0.65
    assert size < len(lzma.compress(symbols.astype(np.uint8).tobytes(), format=lzma.FORMAT_RAW,
                                    filters=[{"id": lzma.FILTER_LZMA2, "preset": 9}]))


def test_byte_payload_round_trip_and_coder_validation():
    data = np.random.default_rng(0).normal(size=500).astype("<f2").tobytes()
    for coder in entropy.BYTE_METHODS + ("auto",):
        assert entropy.decode_bytes(entropy.encode_bytes(data, coder), len(data)) == data
    with pytest.raises(SirenInrError, match="accepted"):
        entropy.encode_bytes(data, "range")
    with pytest.raises(SirenInrError, match="accepted"):
        entropy.encode_symbols([np.zeros(3, np.int64)], 4, "huffman")


@pytest.mark.parametrize("method", ["raw", "zlib", "lzma", "range", "range-tensor", "range-gauss"])
def test_damaged_blocks_raise_or_decode_to_valid_symbols(method):
    # Without the container's checksum a range-coded block may decode to *other* valid symbols; what must
    # never happen is a crash or out-of-range symbols.
    rng = np.random.default_rng(5)
    groups = _groups(6, rng)
    block = entropy.encode_symbols(groups, 6, method)
    lengths = [len(g) for g in groups]
    for cut in range(0, len(block), max(1, len(block) // 25)):
        try:
            out = entropy.decode_symbols(block[:cut], lengths, 6)
        except SirenInrError:
            continue
        assert [len(o) for o in out] == lengths and all((o >= 0).all() and (o < 64).all() for o in out)
    with pytest.raises(SirenInrError):
        entropy.decode_symbols(bytes([200]) + block[1:], lengths, 6)
