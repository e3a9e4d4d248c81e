"""A full disk (issue 22, probe 10): the run is never left RUNNING, and every command says so in one line.

The end-to-end test fills a real small file system (a tmpfs, mounted only where the tests run as root); the others
check the pieces (recognising a full disk under MLflow's wrapping, the reserve kept beside a store, ending a run
with its room) anywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from siren_inr.cli.command import report_exception
from siren_inr.errors import disk_full, full_disk_error
from siren_inr.tracking import store
from siren_inr.tracking.run import end_run
from testkit import run_cli


def _wrapped(inner: BaseException) -> Exception:
    """inner as MLflow hands it on: raised from a SQLAlchemy-like error, inside another exception's handling."""
    try:
        try:
            raise inner
        except BaseException as err:
            raise RuntimeError(f"(sqlalchemy.exc.OperationalError) {err}") from err
    except RuntimeError as outer:
        try:
            raise ValueError("while ending the run") from None
        except ValueError as last:
            last.__context__ = outer
            return last


def test_a_full_disk_is_recognised_under_any_wrapping():
    sqlite_full = sqlite3.OperationalError("database or disk is full")
    assert full_disk_error(_wrapped(sqlite_full)) is sqlite_full
    enospc = OSError(errno.ENOSPC, "No space left on device", "/data/last.ckpt")
    assert full_disk_error(_wrapped(enospc)) is enospc
    assert disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not disk_full(_wrapped(sqlite3.OperationalError("database is locked")))
    assert not disk_full(OSError(errno.EACCES, "Permission denied", "/x"))
    assert not disk_full(None)


def test_a_full_disk_is_one_line_naming_the_file(capsys):
    err = OSError(errno.ENOSPC, "No space left on device", "/tmp/tmpab12", None, "/data/run/last.ckpt")
    message = report_exception(err, debug=False)
    assert message == ("the disk is full, /data/run/last.ckpt could not be written; free some space and run the "
                       "command again")
    assert capsys.readouterr().err.strip() == f"error: {message}"
    message = report_exception(_wrapped(sqlite3.OperationalError("database or disk is full")), debug=False)
    assert "the MLflow store could not be written" in message


def test_the_reserve_is_kept_once_and_given_back(tmp_path):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    store.keep_reserve(db)
    reserve = store.reserve_path(db)
    assert reserve.stat().st_size == store.RESERVE_BYTES
    assert os.stat(reserve).st_blocks * 512 >= store.RESERVE_BYTES  # real blocks, not a sparse file
    before = reserve.stat().st_mtime_ns
    store.keep_reserve(db)
    assert reserve.stat().st_mtime_ns == before
    assert store.release_reserve(uri) and not reserve.exists()
    assert not store.release_reserve(uri)  # nothing left to give
    assert not store.release_reserve("http://127.0.0.1:5000")


def test_no_room_for_the_reserve_leaves_no_file(tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    assert not store.keep_reserve(tmp_path / "mlflow.db")
    assert list(tmp_path.iterdir()) == []


def test_a_store_on_a_full_disk_is_refused_before_any_run(tmp_path, monkeypatch):
    from siren_inr.errors import SirenInrError

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    store.ensure_store(uri)
    store.release_reserve(uri)
    monkeypatch.setattr(store, "keep_reserve", lambda db: False)
    with pytest.raises(SirenInrError, match=r"the disk is full, .*mlruns has less than 1 MiB free"):
        store.ensure_store(uri)


class _Run:
    """A TrackedRun whose store is full for the first `full` attempts to end it."""

    def __init__(self, uri: str, full: int, error: BaseException):
        self.uri, self.full, self.error, self.ended = uri, full, error, []

    def end(self, status: str) -> None:
        if self.full:
            self.full -= 1
            raise self.error
        self.ended.append(status)


def test_a_run_is_ended_with_the_reserve_when_the_disk_is_full(tmp_path):
    db = tmp_path / "mlflow.db"
    store.keep_reserve(db)
    run = _Run(f"sqlite:///{db}", 1, _wrapped(sqlite3.OperationalError("database or disk is full")))
    end_run(run, "FAILED")
    assert run.ended == ["FAILED"] and not store.reserve_path(db).exists()


def test_other_store_errors_and_a_missing_reserve_are_raised(tmp_path):
    db = tmp_path / "mlflow.db"
    store.keep_reserve(db)
    locked = sqlite3.OperationalError("database is locked")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        end_run(_Run(f"sqlite:///{db}", 1, locked), "FAILED")
    assert store.reserve_path(db).exists()  # kept for a full disk
    store.release_reserve(f"sqlite:///{db}")
    full = sqlite3.OperationalError("database or disk is full")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        end_run(_Run(f"sqlite:///{db}", 1, full), "FAILED")


# ---------------------------------------------------------------------------------------------- a real full disk

def _statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())


@pytest.fixture
def small_disk(tmp_path):
    """A 40 MB tmpfs (root only: mount)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("filling a real disk needs root to mount a small tmpfs")
    point = tmp_path / "disk"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(point)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _fill(point: Path, leave_kb: int) -> None:
    free = shutil.disk_usage(point).free - leave_kb * 1024
    with open(point / "filler", "wb") as handle:
        chunk = bytes(1 << 20)
        while free > 0:
            free -= handle.write(chunk[:min(len(chunk), free)])


def _train(point: Path, *settings: str) -> subprocess.CompletedProcess:
    return run_cli(["train", "data.sidelength=32", "progress=none", *settings], point)


@pytest.mark.slow
def test_train_on_a_disk_that_fills_ends_its_run_and_says_so(small_disk):
    made = _train(small_disk, "num_epochs=2")  # the store, made while the disk has room (with its reserve)
    assert made.returncode == 0, made.stderr
    db = small_disk / "mlruns" / "mlflow.db"
    assert store.reserve_path(db).exists()
    expected = {"FINISHED": 1}
    # 400 KB left: the checkpoint is what finds the disk full; 50 KB: the fit's first metric points already do.
    for leave_kb in (400, 50):
        _fill(small_disk, leave_kb)
        full = _train(small_disk, "num_epochs=20")
        assert full.returncode == 1
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the disk is full, "), full.stderr
        assert "free some space" in lines[0]
        expected["FAILED"] = expected.get("FAILED", 0) + 1
        assert _statuses(db) == expected  # not RUNNING
        reserve_used = not store.reserve_path(db).exists()  # (the failed fit's own files may have left room)

        if leave_kb != 400:
            break  # (the next command on a still-full disk is checked once)
        again = _train(small_disk, "num_epochs=20")  # the disk still full: one line again, never a traceback
        assert again.returncode in (1, 2)
        assert again.stderr.strip().splitlines() == [again.stderr.strip()] and "the disk is full" in again.stderr
        after = _statuses(db)
        assert "RUNNING" not in after
        if reserve_used:
            assert after == expected  # refused before any run
        expected = after

        (small_disk / "filler").unlink()
        store.keep_reserve(db)  # what the next command on a disk with room does first


@pytest.mark.slow
def test_compress_and_decompress_on_a_full_disk_are_one_line_and_leave_no_file(small_disk):
    from PIL import Image

    from testkit import smooth_image

    Image.fromarray((smooth_image(24)[..., 0] * 255).round().astype("uint8")).save(small_disk / "in.png")
    tiny = ["model.hidden_layers=1", "model.hidden_features=8", "num_epochs=5", "qat_steps=0", "track=false"]

    def command(*args: str) -> subprocess.CompletedProcess:
        return run_cli(list(args), small_disk)

    made = command("compress", "in.png", "in.inr", *tiny)
    assert made.returncode == 0, made.stderr
    _fill(small_disk, 0)
    for args, out in ((("compress", "in.png", "again.inr", *tiny), "again.inr"),
                      (("decompress", "in.inr", "out.png"), "out.png")):
        result = command(*args)
        assert result.returncode in (1, 2), result.stderr
        assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
        assert result.stderr.startswith("error: ") and out in result.stderr
        assert "the disk is full" in result.stderr or "No space left on device" in result.stderr
        assert not (small_disk / out).exists()
        assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "in.inr", "in.png"]
