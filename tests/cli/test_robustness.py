"""Nothing lost, no tracebacks (issue 13): the real CLI against real SQLite stores.

Concurrent creation of a fresh store, half-created and damaged stores, unreachable stores and servers,
SIGKILLed runs, outputs that would overwrite inputs, and images above the pixel limit. What needs processes
(several at once, a killed one, a store made by one command and read by the next) runs the CLI in subprocesses;
a command's one-line answer to bad input runs in this process (the in_process fixture), which takes seconds, not ten.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from siren_inr.tracking.store import head_revision
from testkit import run_cli, smooth_image, store_uri

pytestmark = pytest.mark.slow  # end-to-end: every test here runs the CLI, processes or a store

FIT = ["data.sidelength=16", "model.hidden_features=16", "model.hidden_layers=1", "num_epochs=3", "trainer=cpu"]
CODEC = ["model.hidden_layers=1", "model.hidden_features=8", "num_epochs=5", "trainer=cpu", "qat_steps=0"]


def _one_line_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    assert done.returncode != 0, done.stdout[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _image(folder: Path, name: str = "img.png", size: int = 16) -> Path:
    path = folder / name
    Image.fromarray((smooth_image(size, channels=3) * 255).round().astype(np.uint8)).save(path)
    return path


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SIREN_INR_FAILURES", None)
    return subprocess.Popen([sys.executable, "-m", "siren_inr", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}


def _revision(db: Path) -> str:
    with sqlite3.connect(db) as connection:
        return connection.execute("select version_num from alembic_version").fetchone()[0]


def test_several_commands_create_a_fresh_store_at_once(tmp_path):
    """Two trains and a tracked compress start together in a folder without a store. (The race itself is repeated
    where it lives, at a tenth of the cost: tests/tracking/test_store.py, three processes opening one store.)"""
    image = _image(tmp_path)
    commands = [["train", *FIT, "seed=1"], ["train", *FIT, "seed=2"],
                ["compress", str(image), "out.inr", *CODEC]]
    processes = [_start(args, tmp_path) for args in commands]
    outputs = [process.communicate(timeout=900) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
        assert "Traceback" not in err
    db = tmp_path / "mlruns" / "mlflow.db"
    assert not {t for t in _tables(db) if t.startswith("_alembic_tmp")}
    assert _revision(db) == head_revision()
    client = mlflow.MlflowClient(store_uri(tmp_path))
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 3


def _half_migrate(db: Path) -> None:
    # What an interrupted batch migration leaves behind: the copy of a table next to the table itself.
    with sqlite3.connect(db) as connection:
        connection.execute("create table _alembic_tmp_latest_metrics (key varchar(250), value float)")


def test_half_created_store_is_recreated_when_empty_and_refused_when_it_holds_runs(tmp_path, in_process):
    from siren_inr.tracking.store import ensure_store

    uri = store_uri(tmp_path)
    ensure_store(uri)
    db = tmp_path / "mlruns" / "mlflow.db"
    _half_migrate(db)
    done = run_cli(["train", *FIT], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "_alembic_tmp_latest_metrics" not in _tables(db)  # recreated: it held no runs
    _half_migrate(db)
    before = db.read_bytes()
    _one_line_error(in_process(["train", *FIT], tmp_path), uri, "half-migrated", "mlflow db upgrade")
    _one_line_error(in_process(["analyze"], tmp_path), uri, "half-migrated")
    assert db.read_bytes() == before  # refused, never touched


@pytest.mark.parametrize("command", [["train", *FIT], ["analyze"], ["rerun", "0" * 32]])
def test_garbage_store_is_one_line_naming_the_uri(tmp_path, in_process, command):
    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    db.write_bytes(b"not a database " * 100)
    started = time.monotonic()
    _one_line_error(in_process(command, tmp_path), str(db))
    assert time.monotonic() - started < 120  # MLflow's own retries took minutes
    assert db.read_bytes() == b"not a database " * 100


@pytest.mark.parametrize("command", [["train", *FIT], ["analyze"]])
@pytest.mark.parametrize("uri", ["sqlite:////proc/nope/x.db", "http://127.0.0.1:9"])
def test_unreachable_store_fails_fast_in_one_line(tmp_path, in_process, command, uri):
    started = time.monotonic()
    _one_line_error(in_process([*command, f"tracking.uri={uri}"], tmp_path), uri)
    assert time.monotonic() - started < 120  # it retried for 257 s before
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; run as a normal user")
def test_read_only_store_is_one_line(tmp_path):
    from siren_inr.tracking.store import ensure_store

    ensure_store(store_uri(tmp_path))
    store = tmp_path / "mlruns"
    for path in (store / "mlflow.db", store):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        started = time.monotonic()
        _one_line_error(run_cli(["train", *FIT], tmp_path), "read-only")
        assert time.monotonic() - started < 120
    finally:
        store.chmod(0o755)


def _running_run(uri: str, timeout: float = 300):
    from siren_inr.tracking.store import check_store

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(uri[len("sqlite:///"):]).is_file():
            try:
                # Waits while the command creates the store: a bare MlflowClient here would start creating
                # it too (that race half-migrated the store in an earlier version of this test).
                check_store(uri, write=False)
                client = mlflow.MlflowClient(uri)
                ids = [e.experiment_id for e in client.search_experiments()]
                runs = client.search_runs(ids, "attributes.status = 'RUNNING'") if ids else []
                if runs:
                    return runs[0]
            except Exception:  # noqa: BLE001 - the store is still being created
                pass
        time.sleep(1)
    raise AssertionError("no RUNNING run appeared")


def test_run_of_a_sigkilled_process_is_marked_killed_by_the_next_command(tmp_path):
    uri = store_uri(tmp_path)
    process = _start(["train", "data.sidelength=16", "model.hidden_features=16", "num_epochs=1000000",
                      "trainer=cpu"], tmp_path)
    try:
        run = _running_run(uri)
        assert run.data.tags["process.pid"] == str(process.pid)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    client = mlflow.MlflowClient(uri)
    assert client.get_run(run.info.run_id).info.status == "RUNNING"  # nothing could mark it: SIGKILL
    run_cli(["analyze", "log_to_mlflow=false"], tmp_path)  # any command that opens the store for writing...
    assert client.get_run(run.info.run_id).info.status == "RUNNING"  # ...this one only reads
    done = run_cli(["train", *FIT], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    after = client.get_run(run.info.run_id)
    assert after.info.status == "KILLED"
    assert f"process {process.pid} on " in after.data.tags["killed_reason"]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codec")
    image = _image(folder, "photo.png")
    done = run_cli(["compress", str(image), "photo.inr", *CODEC, "track=false"], folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, image, folder / "photo.inr"


def test_no_command_writes_over_its_inputs(encoded, in_process):
    folder, image, inr = encoded
    original, coded = image.read_bytes(), inr.read_bytes()
    _one_line_error(in_process(["compress", str(image), str(image), *CODEC, "track=false", "overwrite=true"], folder),
                    "input image itself")
    copy = folder / "copy.png"
    copy.write_bytes(original)
    _one_line_error(in_process(["decompress", str(inr), str(copy), f"original={copy}", "overwrite=true"], folder),
                    "original image itself")
    _one_line_error(in_process(["decompress", str(inr), str(inr)], folder), "input .inr file itself")
    assert image.read_bytes() == original and copy.read_bytes() == original and inr.read_bytes() == coded


def test_existing_output_is_replaced_only_with_overwrite(encoded, in_process):
    folder, image, inr = encoded
    target = folder / "decoded.png"
    target.write_bytes(b"keep me")
    _one_line_error(in_process(["decompress", str(inr), str(target)], folder), "exists", "overwrite=true")
    assert target.read_bytes() == b"keep me"
    done = in_process(["decompress", str(inr), str(target), "overwrite=true"], folder)
    assert done.returncode == 0, done.stderr
    with Image.open(target) as written:  # the decode, renamed into place: no temporary file left beside it
        assert written.format == "PNG" and written.size == (16, 16)
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("name, needle", [("subdir", "is a folder"), ("decoded", "unknown extension"),
                                          ("decoded.jpg", "unknown extension")])
def test_decompress_to_a_folder_or_unknown_extension_is_one_line(encoded, in_process, name, needle):
    folder, _, inr = encoded
    (folder / "subdir").mkdir(exist_ok=True)
    _one_line_error(in_process(["decompress", str(inr), name], folder), needle)
    assert not (folder / "decoded").exists() and not (folder / "decoded.jpg").exists()


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height (a few bytes of pixels follow): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_images_above_the_pixel_limit_are_refused_in_one_line(encoded, in_process):
    folder, _, inr = encoded
    bomb = _png_header_only(folder / "huge.png", 30000, 30000)
    _one_line_error(in_process(["train", f"data.image={bomb}", "data.sidelength=null", "trainer=cpu"], folder),
                    "data.max_pixels=100000000")
    _one_line_error(in_process(["compress", str(bomb), "huge.inr", *CODEC, "track=false"], folder), "max_pixels")
    _one_line_error(in_process(["decompress", str(inr), "x.png", f"original={bomb}"], folder), "max_pixels")
    assert not (folder / "mlruns").exists() and not (folder / "huge.inr").exists()
    assert not (folder / "x.png").exists()
