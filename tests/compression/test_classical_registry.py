"""The classical-codec registry: each registered codec's entry is true of the files it writes, a codec registered
from outside works through every public function with no other change (both search directions, integer and
continuous knobs), and no module of the package branches on a classical codec's name."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import siren_inr
from siren_inr.compression import classical
from siren_inr.compression.classical import (
    CLASSICAL_CODECS,
    DISPLAY_NAMES,
    SETTING_NAMES,
    ClassicalCodec,
    Knob,
    at_target_bpp,
    check_codec,
    decode_classical,
    display_name,
    encode_classical,
    evaluate,
    get_classical_codec,
    list_classical_codecs,
    register_classical,
    sweep,
    sweep_settings,
)
from siren_inr.data import load_image
from siren_inr.data.pixels import to_uint8
from siren_inr.errors import SirenInrError

# How each extension's files begin (an independent statement of the formats, not read from the registry).
MAGIC = {".jpg": [b"\xff\xd8\xff"], ".jp2": [b"\x00\x00\x00\x0cjP  \r\n\x87\n"], ".webp": [b"RIFF"],
         ".avif": [b"ftypavif"], ".jxl": [b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n"], ".heic": [b"ftypheic"]}


@pytest.fixture(scope="module")
def image():
    return load_image("astronaut", 32)


def test_the_views_other_modules_import_agree_with_the_registry():
    assert list(CLASSICAL_CODECS) == list_classical_codecs() == list(DISPLAY_NAMES) == list(SETTING_NAMES)
    assert DISPLAY_NAMES == {"jpeg": "JPEG", "jpeg2000": "JPEG 2000", "webp": "WebP", "avif": "AVIF",
                             "jxl": "JPEG XL", "heic": "HEIC"}
    assert SETTING_NAMES == {"jpeg": "quality", "jpeg2000": "compression ratio", "webp": "quality",
                             "avif": "quality", "jxl": "distance", "heic": "quality"}
    assert display_name("webp") == "WebP" and display_name("coin") == "coin"
    with pytest.raises(SirenInrError, match="accepted: jpeg, jpeg2000"):
        get_classical_codec("bpg")
    with pytest.raises(ValueError, match="twice"):
        register_classical(get_classical_codec("jpeg"))


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_each_entry_is_true_of_its_files(image, codec):
    entry = get_classical_codec(codec)
    knob = entry.knob
    smallest, largest = (encode_classical(to_uint8(image), codec, end)
                         for end in (knob.smallest_file_end, knob.largest_file_end))
    assert any(smallest[:16].find(magic) in (0, 4) for magic in MAGIC[entry.extension])
    assert len(smallest) < len(largest)  # the direction the knob states
    settings = sweep_settings(codec)
    assert settings[0] == pytest.approx(knob.smallest_file_end) and settings[-1] == pytest.approx(knob.largest_file_end)
    assert all(knob.low <= s <= knob.high for s in settings)
    assert all(float(s).is_integer() for s in settings) == knob.integer
    decoded = decode_classical(largest, 3, codec)
    assert decoded.shape == (32, 32, 3) and decoded.dtype == np.uint8


# Two toy codecs, registered from a test, exercise the knob kinds no built-in codec has: an integer knob whose
# larger settings give smaller files, and a continuous knob whose larger settings give larger files.
def _encode_blocks(image_u8: np.ndarray, block: float) -> bytes:
    """Each block x block square stored as its top-left pixel, after a 3-byte header (block, height, width)."""
    b = int(block)
    height, width, _ = image_u8.shape
    return bytes([b, height, width]) + np.ascontiguousarray(image_u8[::b, ::b]).tobytes()


def _decode_blocks(data: bytes, channels: int) -> np.ndarray:
    b, height, width = data[0], data[1], data[2]
    small = np.frombuffer(data[3:], np.uint8).reshape(-(-height // b), -(-width // b), channels)
    return np.repeat(np.repeat(small, b, axis=0), b, axis=1)[:height, :width].copy()


def _encode_rows(image_u8: np.ndarray, fraction: float) -> bytes:
    """The first round(fraction * height) rows, after a 2-byte header (height, width); the rest decode as grey."""
    height, width, _ = image_u8.shape
    rows = max(1, round(fraction * height))
    return bytes([height, width]) + np.ascontiguousarray(image_u8[:rows]).tobytes()


def _decode_rows(data: bytes, channels: int) -> np.ndarray:
    height, width = data[0], data[1]
    kept = np.frombuffer(data[2:], np.uint8).reshape(-1, width, channels)
    out = np.full((height, width, channels), 128, np.uint8)
    out[: len(kept)] = kept
    return out


TOYS = [ClassicalCodec("toy-blocks", "Toy blocks", Knob("block", 1, 12, larger_makes_larger_files=False, integer=True),
                       _encode_blocks, _decode_blocks, lambda: True, "nothing", ".blk"),
        ClassicalCodec("toy-rows", "Toy rows",
                       Knob("fraction", 0.05, 1.0, larger_makes_larger_files=True, integer=False, sweep_steps=9),
                       _encode_rows, _decode_rows, lambda: True, "nothing", ".rows")]


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setattr(classical, "_REGISTRY", dict(classical._REGISTRY))
    for toy in TOYS:
        register_classical(toy)
    return TOYS


def test_a_registered_codec_works_through_every_public_function(image, toys):
    u8 = to_uint8(image)
    blocks, rows = toys
    assert display_name("toy-blocks") == "Toy blocks" and list_classical_codecs()[-2:] == ["toy-blocks", "toy-rows"]
    check_codec("toy-rows")
    # Sweeps run smallest files first: down the integer grid for blocks, up a geometric ladder for rows.
    assert sweep_settings("toy-blocks") == [12.0, 10.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    ladder = sweep_settings("toy-rows")
    assert ladder[0] == 0.05 and ladder[-1] == 1.0 and len(ladder) == 9
    assert all(b / a == pytest.approx(20 ** (1 / 8), rel=1e-3) for a, b in zip(ladder, ladder[1:]))
    for codec in ("toy-blocks", "toy-rows"):
        curve = sweep([image], codec, [8.0])[0]
        sizes = [p.num_bytes for p in curve]
        assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    # The lossless end decodes to the original exactly.
    point = evaluate(image, "toy-blocks", 1)
    assert np.array_equal(decode_classical(encode_classical(u8, "toy-blocks", 1), 3, "toy-blocks"), u8)
    assert point.num_bytes == 3 + u8.size
    assert point.psnr_db > 55  # only the 8-bit rounding of the float original is lost (about 59 dB)
    assert evaluate(image, "toy-blocks", 4).psnr_db < 40


@pytest.mark.parametrize("target_bpp", [0.3, 1.0, 2.5, 7.0])
def test_target_search_finds_the_largest_fitting_file_in_either_direction(image, toys, target_bpp):
    u8 = to_uint8(image)
    budget = math.floor(target_bpp * 32 * 32 / 8 + 1e-9)
    # Integer knob, larger is smaller: the answer is the smallest block size whose file fits (brute force).
    fitting = [b for b in range(1, 13) if len(_encode_blocks(u8, b)) <= budget]
    point = at_target_bpp(image, "toy-blocks", target_bpp)
    assert (point.quality if point else None) == (min(fitting) if fitting else None)
    # Continuous knob, larger is larger: the file has the most rows that fit (3 bytes per pixel of a row of 32).
    most_rows = (budget - 2) // (32 * 3)
    point = at_target_bpp(image, "toy-rows", target_bpp)
    if most_rows < max(1, round(0.05 * 32)):
        assert point is None
    else:
        assert point.num_bytes == 2 + min(most_rows, 32) * 32 * 3


def _codec_name_branches(path: Path, names: set[str]) -> list[str]:
    """Comparisons with, and dict keys equal to, a classical codec's name in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        constants: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                constants += side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
        elif isinstance(node, ast.Dict):
            constants += [key for key in node.keys if key is not None]
        elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
            constants.append(node.pattern.value)
        found += [f"{path}:{c.lineno}: {c.value!r}" for c in constants
                  if isinstance(c, ast.Constant) and c.value in names]
    return found


def test_no_module_branches_on_a_classical_codec_name():
    package = Path(siren_inr.__file__).parent
    names = set(CLASSICAL_CODECS)
    found = [hit for path in sorted(package.rglob("*.py")) for hit in _codec_name_branches(path, names)]
    assert found == []


def test_the_branch_scan_sees_a_branch(tmp_path):
    module = tmp_path / "branchy.py"
    module.write_text('def f(codec):\n    if codec == "jxl":\n        return 1\n    return {"webp": 2}.get(codec)\n'
                      'def g(codec):\n    return codec in ("jpeg2000", "other")\n')
    assert len(_codec_name_branches(module, set(CLASSICAL_CODECS))) == 3
