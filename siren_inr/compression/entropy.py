"""Entropy coding of quantized weights: constriction's range coder against zlib/lzma; the smallest wins.

Every encoded block starts with one method byte, so the decoder needs nothing but the block, the
number of symbols in each group (known from the architecture) and the bit depth.

Methods for integer symbols in [0, 2**bits):
  raw            bit-packed at `bits` bits per symbol (the nominal rate, no modelling)
  zlib / lzma    standard-library compressors on byte-aligned symbols
  range          constriction's range coder with a categorical model fitted to the symbols of all
                 groups together; the model is stored as the occupied symbol range plus one byte per
                 symbol (counts scaled so the largest is 255)
  range-tensor   the same with one categorical model per group (pays off for small alphabets)
  range-gauss    one quantized Gaussian per group, stored as float16 mean and standard deviation
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Sequence

import constriction
import numpy as np

from siren_inr.compression.container import ByteReader, write_varint
from siren_inr.errors import SirenInrError

SYMBOL_METHODS = ("raw", "zlib", "lzma", "range", "range-tensor", "range-gauss")
BYTE_METHODS = ("raw", "zlib", "lzma")
CODERS = ("auto",) + SYMBOL_METHODS
_METHOD_IDS = {name: index for index, name in enumerate(SYMBOL_METHODS)}
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
_COUNT_SCALE = 255


def check_coder(coder: str, byte_payload: bool = False) -> None:
    """Raise SirenInrError unless `coder` names a method usable for this payload kind."""
    accepted = ("auto",) + (BYTE_METHODS if byte_payload else SYMBOL_METHODS)
    if coder not in accepted:
        kind = "float weights (quant.mode fp16/fp32)" if byte_payload else "quantized weights"
        raise SirenInrError(f"entropy coder {coder!r} is not available for {kind}; accepted: {', '.join(accepted)}")


# --- helpers -------------------------------------------------------------------------------------


def _byte_aligned(symbols: np.ndarray, bits: int) -> bytes:
    dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
    return symbols.astype(dtype).tobytes()


def _from_byte_aligned(data: bytes, count: int, bits: int) -> np.ndarray:
    dtype = np.uint8 if bits <= 8 else np.dtype("<u2")
    width = np.dtype(dtype).itemsize
    if len(data) != count * width:
        raise SirenInrError(f"weights block is damaged: expected {count * width} bytes, found {len(data)}")
    return np.frombuffer(data, dtype=dtype).astype(np.int64)


def _bit_pack(symbols: np.ndarray, bits: int) -> bytes:
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    bit_matrix = ((symbols[:, None] >> shifts) & 1).astype(np.uint8)
    return np.packbits(bit_matrix.reshape(-1)).tobytes()


def _bit_unpack(data: bytes, count: int, bits: int) -> np.ndarray:
    needed = (count * bits + 7) // 8
    if len(data) != needed:
        raise SirenInrError(f"weights block is damaged: expected {needed} bit-packed bytes, found {len(data)}")
    flat = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits].astype(np.int64)
    weights = np.int64(1) << np.arange(bits - 1, -1, -1, dtype=np.int64)
    return (flat.reshape(count, bits) * weights).sum(axis=1) if count else np.zeros(0, np.int64)


def _std_compress(method: str, data: bytes) -> bytes:
    if method == "zlib":
        squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return squeezer.compress(data) + squeezer.flush()
    if method == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    return data


def _std_decompress(method: str, data: bytes, expected_len: int) -> bytes:
    try:
        if method == "zlib":
            inflater = zlib.decompressobj(-15)
            out = inflater.decompress(data, expected_len + 1) + inflater.flush()
        elif method == "lzma":
            out = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS).decompress(
                data, max_length=expected_len + 1
            )
        else:
            out = data
    except (zlib.error, lzma.LZMAError) as err:
        raise SirenInrError(f"weights block is damaged: {method} cannot decode it ({err})") from None
    if len(out) != expected_len:
        raise SirenInrError(f"weights block is damaged: {method} gave {len(out)} bytes, expected {expected_len}")
    return out


def _words(encoder: "constriction.stream.queue.RangeEncoder") -> bytes:
    # Trailing zero bytes carry no information: the decoder reads zeros past the end anyway.
    return encoder.get_compressed().astype("<u4").tobytes().rstrip(b"\x00")


def _range_decoder(data: bytes) -> "constriction.stream.queue.RangeDecoder":
    padded = data + b"\x00" * (-len(data) % 4)
    return constriction.stream.queue.RangeDecoder(np.frombuffer(padded, dtype="<u4").astype(np.uint32))


def _histogram_model(symbols: np.ndarray) -> tuple[bytes, int, np.ndarray]:
    """Compact categorical model: (serialised bytes, first symbol, float probabilities)."""
    first, last = int(symbols.min()), int(symbols.max())
    counts = np.bincount(symbols - first, minlength=last - first + 1).astype(np.float64)
    scaled = np.where(counts > 0, np.maximum(np.ceil(counts * _COUNT_SCALE / counts.max()), 1), 0)
    scaled = scaled.astype(np.uint8)
    blob = write_varint(first) + write_varint(last - first) + scaled.tobytes()
    return blob, first, scaled.astype(np.float64)


def _read_histogram_model(reader: ByteReader, alphabet: int) -> tuple[int, np.ndarray]:
    first = reader.varint("model's first symbol", alphabet - 1)
    span = reader.varint("model's symbol range", alphabet - 1 - first)
    scaled = np.frombuffer(reader.take(span + 1, "model's counts"), dtype=np.uint8).astype(np.float64)
    if not scaled.any():
        raise SirenInrError("weights block is damaged: its categorical model has no mass")
    return first, scaled


def _categorical(probabilities: np.ndarray) -> "constriction.stream.model.Categorical":
    return constriction.stream.model.Categorical(probabilities, perfect=False)


def _encode_categorical(encoder, symbols: np.ndarray, first: int, probs: np.ndarray) -> None:
    # A one-symbol alphabet carries no information (and constriction rejects it): nothing to code.
    if probs.size > 1:
        encoder.encode((symbols - first).astype(np.int32), _categorical(probs))


def _decode_categorical(decoder, count: int, first: int, probs: np.ndarray) -> np.ndarray:
    if probs.size == 1:
        return np.full(count, first, dtype=np.int64)
    return decoder.decode(_categorical(probs), count).astype(np.int64) + first


# --- encoders ------------------------------------------------------------------------------------


def _encode_range_groups(groups: Sequence[np.ndarray], per_group: bool) -> bytes:
    parts = [np.asarray(g, dtype=np.int64) for g in groups]
    nonempty = [g for g in parts if g.size]
    if not nonempty:
        return b""
    out = bytearray()
    encoder = constriction.stream.queue.RangeEncoder()
    if per_group:
        for g in nonempty:
            blob, first, probs = _histogram_model(g)
            out += blob
            _encode_categorical(encoder, g, first, probs)
    else:
        allsym = np.concatenate(nonempty)
        blob, first, probs = _histogram_model(allsym)
        out += blob
        _encode_categorical(encoder, allsym, first, probs)
    return bytes(out) + _words(encoder)


def _gauss_params(g: np.ndarray, top: int) -> np.ndarray:
    # Stored relative to the top symbol, so float16 covers every bit depth up to 16.
    return np.array([g.mean() / top, max(float(g.std()), 0.25) / top], dtype="<f2")


def _gauss_model(params: np.ndarray, top: int) -> "constriction.stream.model.QuantizedGaussian":
    mean, std = (float(v) * top for v in params.astype(np.float64))
    return constriction.stream.model.QuantizedGaussian(0, top, mean, std)


def _encode_range_gauss(groups: Sequence[np.ndarray], bits: int) -> bytes:
    top = (1 << bits) - 1
    head = bytearray()
    encoder = constriction.stream.queue.RangeEncoder()
    for g in groups:
        g = np.asarray(g, dtype=np.int64)
        if not g.size:
            continue
        params = _gauss_params(g, top)
        head += params.tobytes()
        encoder.encode(g.astype(np.int32), _gauss_model(params, top))
    return bytes(head) + _words(encoder)


def _encode_method(method: str, groups: Sequence[np.ndarray], bits: int) -> bytes:
    allsym = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups]) if groups else np.zeros(0, np.int64)
    if method == "raw":
        return _bit_pack(allsym, bits)
    if method in ("zlib", "lzma"):
        return _std_compress(method, _byte_aligned(allsym, bits))
    if method == "range":
        return _encode_range_groups(groups, per_group=False)
    if method == "range-tensor":
        return _encode_range_groups(groups, per_group=True)
    if method == "range-gauss":
        return _encode_range_gauss(groups, bits)
    raise SirenInrError(f"entropy coder {method!r} is not known; accepted: {', '.join(CODERS)}")


def encode_symbols(groups: Sequence[np.ndarray], bits: int, coder: str = "auto") -> bytes:
    """Entropy-code groups of integer symbols in [0, 2**bits); `auto` keeps the smallest method."""
    check_coder(coder)
    for g in groups:
        if g.size and (int(g.min()) < 0 or int(g.max()) >= 1 << bits):
            raise ValueError(f"symbols outside [0, 2**{bits})")
    methods = SYMBOL_METHODS if coder == "auto" else (coder,)
    candidates = [bytes([_METHOD_IDS[m]]) + _encode_method(m, groups, bits) for m in methods]
    return min(candidates, key=len)


def describe_symbol_block(block: bytes) -> str:
    """Name of the method that produced an encoded symbol block."""
    if not block or block[0] >= len(SYMBOL_METHODS):
        raise SirenInrError("weights block is damaged: unknown coding method")
    return SYMBOL_METHODS[block[0]]


def decode_symbols(block: bytes, lengths: Sequence[int], bits: int) -> list[np.ndarray]:
    """Inverse of `encode_symbols`: one int64 array per group length."""
    try:
        return _decode_symbols(block, lengths, bits)
    except SirenInrError:
        raise
    except (AssertionError, ValueError, RuntimeError, OverflowError) as err:
        # constriction signals data that no model could have produced with AssertionError/ValueError.
        raise SirenInrError(f"weights block is damaged: the entropy decoder rejects it ({err})") from None


def _decode_symbols(block: bytes, lengths: Sequence[int], bits: int) -> list[np.ndarray]:
    method = describe_symbol_block(block)
    reader = ByteReader(block[1:], "weights block")
    total = int(sum(lengths))
    alphabet = 1 << bits
    decoded: list[np.ndarray]
    if method == "raw":
        allsym = _bit_unpack(reader.rest(), total, bits)
    elif method in ("zlib", "lzma"):
        width = 1 if bits <= 8 else 2
        allsym = _from_byte_aligned(_std_decompress(method, reader.rest(), total * width), total, bits)
    elif method == "range":
        if total == 0:
            allsym = np.zeros(0, np.int64)
        else:
            first, probs = _read_histogram_model(reader, alphabet)
            dec = _range_decoder(reader.rest())
            allsym = _decode_categorical(dec, total, first, probs)
    elif method == "range-tensor":
        models = []
        for n in lengths:
            models.append(_read_histogram_model(reader, alphabet) if n else None)
        dec = _range_decoder(reader.rest())
        decoded = []
        for n, m in zip(lengths, models):
            decoded.append(np.zeros(0, np.int64) if m is None else _decode_categorical(dec, n, m[0], m[1]))
        allsym = np.concatenate(decoded) if decoded else np.zeros(0, np.int64)
    else:  # range-gauss
        params = []
        for n in lengths:
            p = np.frombuffer(reader.take(4, "Gaussian model"), dtype="<f2") if n else None
            if p is not None and not (np.isfinite(p).all() and p[1] > 0):
                raise SirenInrError("weights block is damaged: invalid Gaussian model parameters")
            params.append(p)
        dec = _range_decoder(reader.rest())
        decoded = [
            np.zeros(0, np.int64) if p is None else dec.decode(_gauss_model(p, alphabet - 1), n).astype(np.int64)
            for n, p in zip(lengths, params)
        ]
        allsym = np.concatenate(decoded) if decoded else np.zeros(0, np.int64)
    if allsym.size != total or (total and (allsym.min() < 0 or allsym.max() >= alphabet)):
        raise SirenInrError("weights block is damaged: decoded symbols do not fit the architecture")
    out, start = [], 0
    for n in lengths:
        out.append(allsym[start : start + n])
        start += n
    return out


def encode_bytes(data: bytes, coder: str = "auto") -> bytes:
    """Compress raw float bytes (fp16/fp32 weights) with raw/zlib/lzma; `auto` keeps the smallest."""
    check_coder(coder, byte_payload=True)
    methods = BYTE_METHODS if coder == "auto" else (coder,)
    candidates = [bytes([_METHOD_IDS[m]]) + _std_compress(m, data) for m in methods]
    return min(candidates, key=len)


def decode_bytes(block: bytes, expected_len: int) -> bytes:
    """Inverse of `encode_bytes`; the decoded length must equal `expected_len`."""
    method = describe_symbol_block(block)
    if method not in BYTE_METHODS:
        raise SirenInrError(f"weights block is damaged: method {method!r} is not valid for float weights")
    return _std_decompress(method, block[1:], expected_len)


def method_sizes(groups: Sequence[np.ndarray], bits: int) -> dict[str, int]:
    """Encoded size in bytes (method byte included) of every symbol method, for reports."""
    return {m: 1 + len(_encode_method(m, groups, bits)) for m in SYMBOL_METHODS}
