"""The .inr container: layout, and rejection of foreign, empty, truncated and bit-flipped data."""

import json
import zlib

import pytest

from siren_inr.compression import container
from siren_inr.errors import SirenInrError
from testkit import assert_refuses_damage

HEADER = {"arch": "siren", "size": [4, 5, 3], "nested": {"a": [1, 2.5, None, True]}}


def test_pack_unpack_round_trip_and_layout():
    data = container.pack(HEADER, b"payload\x00\xff")
    assert data[:4] == container.MAGIC and data[4] == 1  # coin's default stays version 1
    assert int.from_bytes(data[-4:], "big") == zlib.crc32(data[:-4])
    parsed = container.unpack(data)
    assert parsed.header == HEADER and parsed.payload == b"payload\x00\xff"
    # The header is deflated compact JSON: never larger than the JSON text plus a few bytes.
    assert len(data) <= 4 + 1 + 2 + len(json.dumps(HEADER, separators=(",", ":"))) + 9 + 4 + 5


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**35])
def test_varint_round_trip(value):
    assert container.ByteReader(container.write_varint(value)).varint("v") == value


def test_foreign_empty_and_wrong_version():
    for bad in [b"", b"\x89INR", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"GIF89a" + b"\x00" * 20]:
        with pytest.raises(SirenInrError, match="not an .inr file"):
            container.unpack(bad)
    data = bytearray(container.pack(HEADER, b"x"))
    data[4] = 99
    with pytest.raises(SirenInrError, match="version 99"):
        container.unpack(bytes(data))


@pytest.mark.parametrize("codec", container.CODEC_IDS)
def test_version_2_carries_the_codec_id(codec):
    data = container.pack(HEADER, b"\x01\x02", version=2, codec=codec)
    assert data[4] == 2 and data[5] == container.CODEC_IDS.index(codec)
    parsed = container.unpack(data)
    assert (parsed.version, parsed.codec, parsed.header, parsed.payload) == (2, codec, HEADER, b"\x01\x02")
    assert container.unpack(container.pack(HEADER, b"")).codec == "coin"  # version 1 is always coin


def test_version_1_cannot_name_another_codec_and_unknown_codec_ids_are_refused():
    with pytest.raises(ValueError):
        container.pack(HEADER, b"", version=1, codec="latent")
    data = bytearray(container.pack(HEADER, b"x", version=2, codec="latent"))
    data[5] = 7
    body = bytes(data[:-4])
    with pytest.raises(SirenInrError, match="codec id 7"):
        container.unpack(body + zlib.crc32(body).to_bytes(4, "big"))


def test_decode_memory_check_refuses_a_claimed_size_beyond_this_machine(monkeypatch):
    monkeypatch.setattr(container, "available_memory_bytes", lambda: 8 * container.GIB)
    container.check_decode_memory(512, 768, 3, 100)  # 39 MB: fine
    with pytest.raises(SirenInrError, match="32768x32768x3 image, which needs about 64.0 GiB") as err:
        container.check_decode_memory(32768, 32768, 3, 64)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("version, codec, payload", [(1, "coin", bytes(range(256)) * 2),
                                                     (2, "latent", bytes(range(200)))])
def test_every_truncation_and_single_bit_flip_is_rejected(version, codec, payload):
    assert_refuses_damage(container.unpack, container.pack(HEADER, payload, version=version, codec=codec))


def test_valid_checksum_over_garbage_header_is_still_an_error():
    body = container.MAGIC + bytes([1]) + container.write_varint(3) + b"abc"
    with pytest.raises(SirenInrError, match="header"):
        container.unpack(body + zlib.crc32(body).to_bytes(4, "big"))
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=container.HEADER_DICTIONARY)
    packed = squeezer.compress(b"[1, 2]") + squeezer.flush()
    body = container.MAGIC + bytes([1]) + container.write_varint(len(packed)) + packed
    with pytest.raises(SirenInrError, match="not a JSON object"):
        container.unpack(body + zlib.crc32(body).to_bytes(4, "big"))
