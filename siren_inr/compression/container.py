"""The versioned .inr container: magic, format version, header, payload, CRC32.

Layout (all integers unsigned; varint = LEB128):

    magic      4 bytes   b"\\x89INR"  (a high byte first, as in PNG, so text-mode damage is caught)
    version    1 byte    1, 2 or 3 (FORMAT_VERSION is the newest)
    codec      1 byte    versions 2 and 3: the codec id (CODEC_IDS: coin, siren_pe, latent); version 1 is coin
    header     varint length + compact JSON (architecture, hyperparameters, image size, quantization
                         settings, layout fingerprint), raw deflate with the version's preset dictionary
    payload    the rest up to the checksum (weights, see siren_inr.compression.codec; latents, see
                         siren_inr.compression.latent)
    crc32      4 bytes   big-endian CRC32 of everything before it

Version 1 is what the coin codec has always written (and still writes); version 2 adds the codec id
byte and a dictionary that also knows the latent codec's keys; version 3 is the latent codec with a causal
integer entropy model, learned upsampling and a convolutional synthesis (siren_inr.compression.latent.bitstream),
with a dictionary that also knows its header's keys. Versions 1 and 2 are still read.

Parsing checks the size, magic, version and checksum before anything else is interpreted, so a
truncated, bit-flipped or foreign file is rejected with SirenInrError before any decoding happens.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from siren_inr.data.image import DEFAULT_MAX_PIXELS
from siren_inr.errors import SirenInrError

MAGIC = b"\x89INR"
FORMAT_VERSION = 3
VERSIONS = (1, 2, 3)
# The codec id byte of versions 2 and 3 -> the registered INR codec that owns the file (registry.InrCodec.codec_id;
# a test checks the two agree). An id once written is never reused.
CODEC_IDS = ("coin", "siren_pe", "latent")
CHECKSUM_BYTES = 4
GIB = 1024**3
MAX_HEADER_BYTES = 1 << 16
# Preset deflate dictionary for the header: the JSON keys and typical values every header repeats, so a
# ~260-byte header costs ~40 bytes (a lot at 0.05 bpp). Part of format version 1: never change it.
HEADER_DICTIONARY = (
    b'"fourier_scale":10.0,"mapping_size":256,"num_frequencies":null,"sidelength":null,"num_centres":'
    b'"rbf_sigma":"arch":"fourier","arch":"mixed","arch":"nerf","arch":"rbf","arch":"relu","arch":"tanh",'
    b'"quant":{"bits":16,"mode":"fp16","per_channel":false}},"quant":{"bits":8,"mode":"fp32",'
    b'"per_channel":true,"sensitive_bits":null},"quant":{"bits":8,"mode":"uniform","per_channel":false,'
    b'"sensitive_bits":12},"size":[512,768,3]}'
    b'{"arch":"siren","hparams":{"first_omega_0":30.0,"hidden_features":28,"hidden_layers":10,'
    b'"hidden_omega_0":30.0,"in_features":2,"out_features":3,"outermost_linear":true},"layout":'
)
# Version 2's dictionary: version 1's plus the keys of the siren_pe and latent headers.
HEADER_DICTIONARY_V2 = HEADER_DICTIONARY + (
    b'"arch":"siren_pe","hparams":{"first_omega_0":30.0,"hidden_features":32,"hidden_layers":3,'
    b'"hidden_omega_0":30.0,"in_features":2,"num_frequencies":8,"out_features":3,"outermost_linear":true},'
    b'{"entropy":{"hidden":8},"latent_range":[-8,8],"levels":7,"refine":8,"size":[256,256,3],'
    b'"synthesis":{"arch":"relu","hparams":{"hidden_features":16,"hidden_layers":1,"in_features":7,'
    b'"out_features":3}},"weights":'
)
# Version 3's: version 2's plus the keys of the version-3 latent header.
HEADER_DICTIONARY_V3 = HEADER_DICTIONARY_V2 + (
    b'{"layout":,"levels":7,"omega":1.0,"preset":"lop","preset":"mop","preset":"hop","size":[256,256,3],'
    b'"synthesis":"sine","synthesis":"relu"}'
)
_DICTIONARIES = {1: HEADER_DICTIONARY, 2: HEADER_DICTIONARY_V2, 3: HEADER_DICTIONARY_V3}


@dataclass
class Container:
    """A parsed .inr file: JSON header and opaque payload."""

    header: dict[str, Any]
    payload: bytes
    version: int = FORMAT_VERSION
    codec: str = "coin"


def write_varint(value: int) -> bytes:
    """Unsigned LEB128 encoding of a non-negative integer."""
    if value < 0:
        raise ValueError(f"varint of negative value {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class ByteReader:
    """Bounds-checked sequential reader; every overrun is a SirenInrError naming what was being read."""

    def __init__(self, data: bytes, what: str = ".inr data") -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    def remaining(self) -> int:
        """Bytes not yet read."""
        return len(self.data) - self.pos

    def take(self, count: int, field: str) -> bytes:
        """The next `count` bytes."""
        if count < 0 or self.pos + count > len(self.data):
            raise SirenInrError(f"{self.what} is truncated or damaged: cannot read {field} ({count} bytes)")
        chunk = bytes(self.data[self.pos : self.pos + count])
        self.pos += count
        return chunk

    def varint(self, field: str, limit: int = 1 << 40) -> int:
        """The next LEB128 integer, which must not exceed `limit`."""
        value, shift = 0, 0
        while True:
            byte = self.take(1, field)[0]
            value |= (byte & 0x7F) << shift
            if value > limit:
                raise SirenInrError(f"{self.what} is damaged: {field}={value} exceeds {limit}")
            if not byte & 0x80:
                return value
            shift += 7

    def rest(self) -> bytes:
        """Everything not yet read."""
        return self.take(self.remaining(), "the remaining bytes")


def pack(header: dict[str, Any], payload: bytes, version: int = 1, codec: str = "coin") -> bytes:
    """Serialise a header and payload into .inr bytes (version 1: coin only; versions 2 and 3: any codec)."""
    if version not in VERSIONS:
        raise ValueError(f"format version {version} is not one of {VERSIONS}")
    if codec not in CODEC_IDS or (version == 1 and codec != CODEC_IDS[0]):  # version 1 has no codec id: id 0
        raise ValueError(f"codec {codec!r} cannot be written in format version {version}")
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")
    # raw deflate (no zlib header/adler bytes) primed with the header dictionary
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=_DICTIONARIES[version])
    packed_header = squeezer.compress(text) + squeezer.flush()
    prefix = MAGIC + bytes([version]) + (bytes([CODEC_IDS.index(codec)]) if version >= 2 else b"")
    body = prefix + write_varint(len(packed_header)) + packed_header + payload
    return body + zlib.crc32(body).to_bytes(CHECKSUM_BYTES, "big")


def unpack(data: bytes) -> Container:
    """Parse and verify .inr bytes; any damage raises SirenInrError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SirenInrError(f"expected the bytes of an .inr file, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC) + 1 + 1 + CHECKSUM_BYTES:
        raise SirenInrError(f"not an .inr file: only {len(data)} bytes (an .inr file starts with {MAGIC!r})")
    if data[: len(MAGIC)] != MAGIC:
        raise SirenInrError(f"not an .inr file: it starts with {data[:len(MAGIC)]!r}, expected {MAGIC!r}")
    version = data[len(MAGIC)]
    if version not in VERSIONS:
        raise SirenInrError(
            f".inr format version {version} is not supported; this installation reads versions "
            f"{', '.join(map(str, VERSIONS))}"
        )
    body, stored = data[:-CHECKSUM_BYTES], int.from_bytes(data[-CHECKSUM_BYTES:], "big")
    if zlib.crc32(body) != stored:
        raise SirenInrError(".inr file is damaged or truncated: its CRC32 checksum does not match")
    reader = ByteReader(body, ".inr file")
    reader.take(len(MAGIC) + 1, "magic and version")
    codec = CODEC_IDS[0]  # version 1 files have no codec id byte: they are all of codec id 0
    if version >= 2:
        codec_id = reader.take(1, "codec id")[0]
        if codec_id >= len(CODEC_IDS):
            raise SirenInrError(f".inr file names codec id {codec_id}; accepted: 0-{len(CODEC_IDS) - 1} "
                                f"({', '.join(CODEC_IDS)})")
        codec = CODEC_IDS[codec_id]
    header_len = reader.varint("header length", MAX_HEADER_BYTES)
    packed_header = reader.take(header_len, "header")
    try:
        inflater = zlib.decompressobj(-15, zdict=_DICTIONARIES[version])
        text = inflater.decompress(packed_header, MAX_HEADER_BYTES) + inflater.flush()
        if not inflater.eof or inflater.unconsumed_tail:
            raise ValueError("header stream incomplete or too long")
        header = json.loads(text.decode("utf-8"))
    except (zlib.error, ValueError, UnicodeDecodeError) as err:
        raise SirenInrError(f".inr file is damaged: its header cannot be read ({err})") from None
    if not isinstance(header, dict):
        raise SirenInrError(".inr file is damaged: its header is not a JSON object")
    return Container(header=header, payload=reader.rest(), version=version, codec=codec)


def available_memory_bytes() -> int | None:
    """MemAvailable of this machine (None where /proc/meminfo cannot be read)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# The most pixels a file may claim: compress's limit for an image (max_pixels), unless decode_pixel_limit says.
_DECODE_PIXEL_LIMIT: contextvars.ContextVar[int] = contextvars.ContextVar("decode_pixel_limit",
                                                                          default=DEFAULT_MAX_PIXELS)


@contextlib.contextmanager
def decode_pixel_limit(max_pixels: int) -> Iterator[None]:
    """Files decoded inside may claim at most `max_pixels` pixels (a user's max_pixels= setting)."""
    token = _DECODE_PIXEL_LIMIT.set(int(max_pixels))
    try:
        yield
    finally:
        _DECODE_PIXEL_LIMIT.reset(token)


def check_decode_memory(height: int, width: int, channels: int, bytes_per_pixel: int) -> None:
    """Refuse, before anything is allocated, a file whose claimed image is larger than an image compress accepts
    (the pixel limit) or cannot be decoded in this memory."""
    available = available_memory_bytes()
    need = int(height) * int(width) * int(bytes_per_pixel)
    if available is not None and need > 0.8 * available:
        raise SirenInrError(
            f".inr file claims a {width}x{height}x{channels} image, which needs about {need / GIB:.1f} GiB to "
            f"decode; this machine has {available / GIB:.1f} GiB available"
        )
    limit = _DECODE_PIXEL_LIMIT.get()
    if int(height) * int(width) > limit:
        raise SirenInrError(f".inr file claims a {width}x{height} image = {int(height) * int(width)} pixels, above "
                            f"max_pixels={limit} (compress refuses such images too); accepted: files of up to that "
                            "many pixels (raise max_pixels on a machine with the memory for them)")


class DecodedPixels:
    """What every decoded .inr file offers, from its image_u8 [H, W, C], num_bytes, height and width fields."""

    @property
    def image(self) -> np.ndarray:
        """Decoded image as float32 [H, W, C] in [0, 1]."""
        return self.image_u8.astype(np.float32) / 255.0

    @property
    def bpp(self) -> float:
        """Whole-file bits per pixel."""
        return 8.0 * self.num_bytes / (self.height * self.width)
