"""Hostile-user probe cases of issue 22 that used to lose data, leave a wrong run state or print a traceback."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from PIL import Image

from siren_inr import __version__
from testkit import run_cli, smooth_image, store_uri

pytestmark = pytest.mark.slow  # end-to-end: every test here runs the CLI, processes or a store

FIT = ["data.sidelength=16", "model.hidden_features=16", "model.hidden_layers=1", "num_epochs=3", "trainer=cpu"]
CODEC = ["model.hidden_layers=1", "model.hidden_features=8", "num_epochs=5", "trainer=cpu"]


def _image(folder: Path, name: str = "img.png", size: int = 16) -> Path:
    path = folder / name
    Image.fromarray((smooth_image(size, channels=3) * 255).round().astype(np.uint8)).save(path)
    return path


def _start(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("SIREN_INR_FAILURES", None)
    return subprocess.Popen([sys.executable, "-m", "siren_inr", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env)


def _runs(uri: str) -> list:
    client = mlflow.MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def _finished_run_ids(db: Path) -> list[str]:
    """FINISHED runs of a store another process may still be creating, read without MLflow: an MlflowClient here
    would start migrating the half-made store beside its creator (and break it)."""
    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as connection:
            return [row[0] for row in connection.execute("SELECT run_uuid FROM runs WHERE status = 'FINISHED'")]
    except sqlite3.Error:
        return []


def test_no_command_is_an_error_and_version_answers(tmp_path):
    # Probe 19: `siren-inr` with no arguments exited 0; --version did not exist.
    bare = run_cli([], tmp_path)
    assert bare.returncode == 2 and "usage: siren-inr" in bare.stdout
    version = run_cli(["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"siren-inr {__version__}"
    assert run_cli(["--help"], tmp_path).returncode == 0


@pytest.mark.parametrize("signum, code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_train_stopped_by_a_signal_says_so_in_one_line_with_the_shells_code(tmp_path, signum, code, name):
    # Probe 19: Ctrl-C made `train` exit 1 and print nothing.
    process = _start(["train", "data.sidelength=16", "model.hidden_features=16", "num_epochs=1000000",
                      "trainer=cpu", "progress=lines", "log_every_n_steps=5"], tmp_path)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("step") or process.poll() is not None:
                break
        assert process.poll() is None, process.stderr.read()
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, err[-3000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"error: siren-inr train stopped by {name}; a run it had started is "
                                            "marked KILLED and no output file was left half-written")
    assert [r.info.status for r in _runs(store_uri(tmp_path))] == ["KILLED"]


def test_compress_stopped_during_qat_leaves_a_killed_run_and_no_temporary_folder(tmp_path):
    # Probe 11: SIGTERM during QAT left a FINISHED run without an .inr, exit 143 with no message, and a
    # siren-inr-compress-* folder in the temporary folder.
    image = _image(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    uri = store_uri(tmp_path)
    process = _start(["compress", str(image), "out.inr", *CODEC, "qat_steps=100000000"], tmp_path,
                     env={"TMPDIR": str(scratch)})
    try:
        deadline = time.monotonic() + 300
        finished = []
        while time.monotonic() < deadline and not finished and process.poll() is None:
            time.sleep(1)
            finished = _finished_run_ids(tmp_path / "mlruns" / "mlflow.db")  # the fit is done: QAT runs
        assert finished and process.poll() is None, process.stderr.read() if process.poll() is not None else ""
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, err[-3000:]
    assert "stopped by SIGTERM" in err.strip().splitlines()[-1] and "Traceback" not in err
    run = mlflow.MlflowClient(uri).get_run(finished[0])
    assert run.info.status == "KILLED" and "before its .inr file was written" in run.data.tags["killed_reason"]
    assert not (tmp_path / "out.inr").exists()
    assert not list(scratch.glob("siren-inr-compress-*"))


def test_compress_failing_after_its_fit_marks_the_run_failed(tmp_path, monkeypatch, capsys):
    # Probe 11: a full disk while writing the .inr left the fit's run FINISHED with no file and no inr/* metrics.
    from siren_inr.cli.codec import compress_main
    from siren_inr.compression import codec

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(codec, "write_inr", full_disk)
    image = _image(tmp_path)
    uri = store_uri(tmp_path)
    code = compress_main([str(image), str(tmp_path / "out.inr"), *CODEC, "qat_steps=0", f"tracking.uri={uri}"])
    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if " INFO mlflow" not in line]
    assert len(errors) == 1 and errors[0].startswith("error: cannot write ") and "No space left" in errors[0]
    [run] = _runs(uri)
    assert run.info.status == "FAILED"
    assert "No space left on device" in run.data.tags["failed_reason"]
    assert not any(key.startswith("inr/") for key in run.data.metrics)
    assert not (tmp_path / "out.inr").exists()


def test_train_into_a_closed_pipe_finishes_its_run(tmp_path):
    # Probe 14: `siren-inr train ... | head -n 1` raised BrokenPipeError from the progress print and FAILED the fit.
    command = (f"{sys.executable} -m siren_inr train {' '.join(FIT)} progress=lines log_every_n_steps=1 "
               "| head -n 1")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={k: v for k, v in os.environ.items() if k != "SIREN_INR_FAILURES"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stdout.splitlines()) == 1
    assert "BrokenPipeError" not in done.stderr and "Traceback" not in done.stderr
    assert "INFO mlflow" not in done.stderr  # MLflow's INFO lines (store creation, migrations) stay off the terminal
    assert [r.info.status for r in _runs(store_uri(tmp_path))] == ["FINISHED"]


def test_terminal_and_records_tell_the_truth_about_a_compress(tmp_path, capsys):
    # Issue 22, points 5-6: decompress printed the .inr's size as the PNG's; no word when the .inr outgrew its
    # source; output_dir/checkpoint_dir tags pointed at a deleted temporary folder; no run description.
    from siren_inr.cli.codec import compress_main, decompress_main

    image = _image(tmp_path, size=16)
    uri = store_uri(tmp_path)
    inr = tmp_path / "out.inr"
    assert compress_main([str(image), str(inr), *CODEC, "qat_steps=0", "model.hidden_features=32",
                          f"tracking.uri={uri}"]) == 0
    captured = capsys.readouterr()
    source_size, inr_size = image.stat().st_size, inr.stat().st_size
    assert inr_size > source_size  # a 32-wide network on a 16x16 image
    assert (f"warning: out.inr ({inr_size} bytes) is {inr_size / source_size:.1f}x larger than img.png "
            f"({source_size} bytes)") in captured.err
    run_id = captured.out.strip().splitlines()[-1].split()[-1]
    run = mlflow.MlflowClient(uri).get_run(run_id)
    assert "output_dir" not in run.data.tags and "checkpoint_dir" not in run.data.tags
    note = run.data.tags["mlflow.note.content"]
    assert "\n" not in note and f"img.png 16x16 -> out.inr, {inr_size} bytes" in note and "PSNR" in note

    png = tmp_path / "back.png"
    assert decompress_main([str(inr), str(png), f"original={image}"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{png}: {png.stat().st_size} bytes (PNG), decoded from out.inr: {inr_size} bytes, ")


def test_a_fit_run_has_a_one_line_description_with_its_numbers(tmp_path, in_process):
    done = in_process(["train", *FIT], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = _runs(store_uri(tmp_path))
    note = run.data.tags["mlflow.note.content"]
    psnr = run.data.metrics["final/psnr"]
    assert note.startswith("siren (") and "cameraman 16x16" in note and f"PSNR {psnr:.2f} dB" in note
    assert "after 3 steps" in note and "\n" not in note
    assert Path(run.data.tags["output_dir"]).is_dir()  # a train run's outputs folder stays
