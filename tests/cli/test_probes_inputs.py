"""Hostile-input probe cases of issue 22 (13, 16, 17, 18): refused in one line before any run, store or folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from testkit import free_port, smooth_image

RD = ["codecs=[jpeg]", "ladder=[[1,4]]", "num_epochs=2", "qat_steps=0", "trainer=cpu"]
CODEC = ["model.hidden_layers=1", "model.hidden_features=8", "num_epochs=3", "qat_steps=0", "trainer=cpu"]


def _png(path: Path, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((smooth_image(size, channels=3) * 255).round().astype(np.uint8)).save(path)
    return path


def _error_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.strip()]


def _nothing_made(folder: Path, *keep: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


def test_rd_refuses_a_too_small_image_by_name_before_any_run_or_folder(tmp_path, monkeypatch, capsys):
    # Probe 13: a 4x4 image was refused (not named) after a FAILED run and an empty report folder were made.
    from siren_inr.cli.rd import main

    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "images" / "big.png", 16)
    _png(tmp_path / "images" / "tiny.png", 4)
    assert main(["data.folder=images", *RD]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("error: ") and "tiny.png (4x4 px)" in line and "big.png" not in line
    _nothing_made(tmp_path, "images")


def test_rd_refuses_an_image_smaller_than_its_crop(tmp_path, monkeypatch, capsys):
    from siren_inr.cli.rd import main

    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "images" / "a.png", 16)
    assert main(["data.folder=images", "data.crop=24", *RD]) == 2
    [line] = _error_lines(capsys)
    assert "smaller than data.crop=24" in line and "a.png (16x16 px)" in line
    _nothing_made(tmp_path, "images")


def test_rd_on_a_folder_of_non_images_creates_no_store(tmp_path, monkeypatch, capsys):
    # Probe 13: the refusal came after an empty MLflow store had been created.
    from siren_inr.cli.rd import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("not an image")
    assert main(["data.folder=notes", *RD]) == 2
    [line] = _error_lines(capsys)
    assert "data.folder='notes' holds no images" in line
    _nothing_made(tmp_path, "notes")


def test_rd_names_the_folder_setting_for_a_bad_file_in_it(tmp_path, monkeypatch, capsys):
    # Probe 18: a damaged file of data.folder was reported as data.image=, a setting rd does not have.
    from siren_inr.cli.rd import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png at all")
    assert main(["data.folder=images", *RD]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("error: data.folder='images': broken.png is not a readable image")
    assert "data.image" not in line
    _nothing_made(tmp_path, "images")


@pytest.mark.parametrize("store", ["garbage", "dead server"])
def test_a_refused_train_leaves_no_outputs_folder(tmp_path, monkeypatch, capsys, store):
    # Probe 13: a train refused for its store still left outputs/<date>/<time>/ (Hydra had made it).
    from siren_inr.cli.train import main

    monkeypatch.chdir(tmp_path)
    if store == "garbage":
        (tmp_path / "garbage.db").write_bytes(bytes(range(256)) * 8)
        uri, keep, says = "sqlite:///garbage.db", ["garbage.db"], "is not an SQLite database"
    else:
        uri, keep, says = f"http://127.0.0.1:{free_port()}", [], "no MLflow server answers"
    assert main(["data.sidelength=16", "num_epochs=2", f"tracking.uri={uri}"]) == 2
    [line] = _error_lines(capsys)
    assert says in line
    _nothing_made(tmp_path, *keep)


def test_mlflows_experiment_name_limit_is_the_one_checked():
    from mlflow.utils.validation import MAX_EXPERIMENT_NAME_LENGTH as MLFLOW_LIMIT

    from siren_inr.tracking.store import MAX_EXPERIMENT_NAME_LENGTH, checked_experiment_name

    assert MAX_EXPERIMENT_NAME_LENGTH == MLFLOW_LIMIT
    assert checked_experiment_name("x" * MLFLOW_LIMIT) == "x" * MLFLOW_LIMIT


@pytest.mark.parametrize("command", ["train", "compress", "rd"])
def test_an_experiment_name_over_mlflows_limit_is_refused_before_any_store(tmp_path, monkeypatch, capsys, command):
    # Probe 16: 501 characters failed in MLflow, with a traceback, after an empty store had been created.
    monkeypatch.chdir(tmp_path)
    image = _png(tmp_path / "images" / "img.png")
    name = "e" * 501
    if command == "train":
        from siren_inr.cli.train import main

        code = main(["data.sidelength=16", "num_epochs=2", f"experiment_name={name}"])
    elif command == "compress":
        from siren_inr.cli.codec import compress_main

        code = compress_main([str(image), "out.inr", *CODEC, f"experiment_name={name}"])
    else:
        from siren_inr.cli.rd import main

        code = main(["data.folder=images", *RD, f"experiment_name={name}"])
    assert code == 2
    [line] = _error_lines(capsys)
    assert line.startswith("error: experiment_name of 501 characters") and "at most 500" in line
    assert len(line) < 300
    _nothing_made(tmp_path, "images")


def test_a_long_thin_image_is_refused_before_it_is_resized_whole(tmp_path, monkeypatch, capsys):
    # Probe 17: a 3x33,000,000 px PNG (under max_pixels) with data.sidelength=16 was resized whole (16 x 176 M px)
    # before its square was cut: MemoryError. The same shape, scaled down to a smaller max_pixels.
    from siren_inr.cli.train import main
    from siren_inr.data import load_image
    from siren_inr.errors import SirenInrError

    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.full((3, 3000, 3), 128, np.uint8)).save(tmp_path / "thin.png")
    with pytest.raises(SirenInrError, match=r"makes 16000x16 = 256000 pixels, above data.max_pixels=20000"):
        load_image(str(tmp_path / "thin.png"), 16, max_pixels=20000)
    assert load_image(str(tmp_path / "thin.png"), 16, max_pixels=256000).shape == (16, 16, 3)
    assert main(["data.image=thin.png", "data.sidelength=16", "data.max_pixels=20000", "num_epochs=2"]) == 2
    [line] = _error_lines(capsys)
    assert "thin.png" in line and "data.max_pixels=20000" in line
    _nothing_made(tmp_path, "thin.png")


def _tiny_inr(tmp_path: Path, capsys) -> Path:
    from siren_inr.cli.codec import compress_main

    image = _png(tmp_path / "img.png")
    inr = tmp_path / "img.inr"
    assert compress_main([str(image), str(inr), *CODEC, "track=false"]) == 0
    capsys.readouterr()
    return inr


def test_a_forged_inr_claiming_more_pixels_than_compress_accepts_is_refused(tmp_path, capsys):
    # Probe 17: a 209-byte file claiming 10001^2 px passed decompress's memory check (compress's 100 M px limit
    # would refuse such an image) and died at 9 GB.
    from siren_inr.cli.codec import decompress_main
    from siren_inr.compression import container

    inr = _tiny_inr(tmp_path, capsys)
    parsed = container.unpack(inr.read_bytes())
    header = dict(parsed.header)
    header["size"] = [10001, 10001, header["size"][2]]
    forged = tmp_path / "forged.inr"
    forged.write_bytes(container.pack(header, parsed.payload, parsed.version, parsed.codec))
    assert decompress_main([str(forged), str(tmp_path / "out.png")]) == 2
    [line] = _error_lines(capsys)
    assert "10001x10001" in line and "max_pixels=100000000" in line
    assert not (tmp_path / "out.png").exists()
    # The user's max_pixels= is the limit: a genuine 16x16 file above max_pixels=100 is refused too.
    assert decompress_main([str(inr), str(tmp_path / "out.png"), "max_pixels=100"]) == 2
    assert "max_pixels=100 " in _error_lines(capsys)[0]
    assert decompress_main([str(inr), str(tmp_path / "out.png")]) == 0


def test_decompress_refuses_an_original_of_another_size(tmp_path, capsys):
    # Probe 18: original= of another size was resized silently and a PSNR printed.
    from siren_inr.cli.codec import decompress_main

    inr = _tiny_inr(tmp_path, capsys)
    other = _png(tmp_path / "other.png", 20)
    assert decompress_main([str(inr), str(tmp_path / "out.png"), f"original={other}"]) == 2
    [line] = _error_lines(capsys)
    assert "is 20x20 px, the file holds 16x16" in line and "sidelength=16" in line
    assert not (tmp_path / "out.png").exists()
    # Said to be compressed with sidelength=16, it is resized as compress resized it.
    assert decompress_main([str(inr), str(tmp_path / "out.png"), f"original={other}", "sidelength=16"]) == 0
    assert "PSNR" in capsys.readouterr().out


def _compress_run(tmp_path: Path, capsys, image: Path) -> tuple[str, str]:
    """A tracked compress of `image` in tmp_path's store: (its run id, the store's URI)."""
    from siren_inr.cli.codec import compress_main

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert compress_main([str(image), str(tmp_path / f"{image.stem}.inr"), *CODEC, f"tracking.uri={uri}"]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1].split()[-1]
    return run_id, uri


@pytest.mark.slow
def test_compress_with_the_weights_of_another_images_fit_is_refused(tmp_path, monkeypatch, capsys):
    # Probe 18: `compress run_id=<fit of image A>` on image B encoded A's network without a word; run_id=deadbeef
    # said the run had no checkpoint instead of that it does not exist.
    from siren_inr.cli.codec import compress_main

    monkeypatch.chdir(tmp_path)
    first = _png(tmp_path / "a.png")
    Image.fromarray((smooth_image(16, channels=3, seed=5) * 255).round().astype(np.uint8)).save(tmp_path / "b.png")
    run_id, uri = _compress_run(tmp_path, capsys, first)
    assert compress_main(["b.png", "b.inr", f"run_id={run_id}", f"tracking.uri={uri}"]) == 2
    [line] = _error_lines(capsys)
    assert f"run_id={run_id!r} was fitted to" in line and "a.png" in line and "not to b.png" in line
    assert not (tmp_path / "b.inr").exists()
    assert compress_main(["b.png", "b.inr", "run_id=deadbeef", f"tracking.uri={uri}"]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("error: run_id='deadbeef': no such run in ")
    # The image the run was fitted to is accepted.
    assert compress_main([str(first), "again.inr", f"run_id={run_id}", f"tracking.uri={uri}"]) == 0


@pytest.mark.slow
def test_rerun_of_a_compress_run_says_what_redoes_it(tmp_path, monkeypatch, capsys):
    # Probe 18: `rerun` of a compress run said "unknown setting inr_codec".
    from siren_inr.cli.rerun import main

    monkeypatch.chdir(tmp_path)
    run_id, uri = _compress_run(tmp_path, capsys, _png(tmp_path / "a.png"))
    assert main([run_id, f"tracking.uri={uri}"]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1, lines  # no environment warnings before the refusal
    assert lines[0].startswith(f"error: run {run_id} is a compress run (coin, of ")
    assert "siren-inr compress" in lines[0] and "inr_codec" not in lines[0].split("(coin")[0]


def test_rerun_without_an_id_prints_usage_and_an_error_line(tmp_path, capsys):
    # Probe 19: usage alone, with no error: line.
    from siren_inr.cli.rerun import main

    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: siren-inr rerun <run_id>")
    [line] = [line for line in captured.err.splitlines() if line.strip()]
    assert line.startswith("error: siren-inr rerun needs the id of the run")


def test_special_files_are_named_for_what_they_are(tmp_path):
    # Probe 18: a symbolic-link loop was "file not found"; /dev/zero and a FIFO were "an empty file".
    import os

    from siren_inr.data import load_image
    from siren_inr.errors import SirenInrError

    (tmp_path / "one.png").symlink_to(tmp_path / "two.png")
    (tmp_path / "two.png").symlink_to(tmp_path / "one.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    os.mkfifo(tmp_path / "pipe.png")
    cases = {str(tmp_path / "one.png"): "a symbolic link that leads back to itself",
             str(tmp_path / "gone.png"): "a symbolic link to",
             "/dev/zero": "is a character device, not an image file",
             str(tmp_path / "pipe.png"): "is a named pipe (FIFO), not an image file"}
    for source, says in cases.items():
        with pytest.raises(SirenInrError, match=re.escape(says)):
            load_image(source)


def test_a_non_ascii_value_gets_the_hydra_quoting_hint(tmp_path, monkeypatch, capsys):
    # Probe 18: a non-ASCII file name failed in Hydra's lexer and the error did not say to quote it.
    from siren_inr.cli.rd import main as rd_main
    from siren_inr.cli.train import main as train_main

    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "é.png")
    assert train_main(["data.image=é.png", "num_epochs=2"]) == 2
    [line] = _error_lines(capsys)
    assert """quote a value with non-ASCII characters for Hydra, e.g. 'data.image="é.png"'""" in line
    assert rd_main(["data.folder=éé", *RD]) == 2
    assert """'data.folder="éé"'""" in _error_lines(capsys)[0]
    _nothing_made(tmp_path, "é.png")


@pytest.mark.slow
def test_a_compress_run_records_the_settings_that_ran_once_each(tmp_path, monkeypatch, capsys):
    # Issue 22, point 5: a coin compress recorded num_epochs=3 beside inr_codec.steps=2000, qat_steps=0 beside
    # inr_codec.qat.steps=300, the quantizer twice, and decompress's original=; a siren_pe compress records its
    # inr_codec.* alone (no num_epochs, qat_steps or quant.* of the coin codec, which did not run).
    import mlflow

    from siren_inr.cli.codec import compress_main

    monkeypatch.chdir(tmp_path)
    image = _png(tmp_path / "a.png")
    run_id, uri = _compress_run(tmp_path, capsys, image)
    params = mlflow.MlflowClient(uri).get_run(run_id).data.params
    assert params["inr_codec"] == "coin" and not [k for k in params if k.startswith("inr_codec.")]
    assert params["num_epochs"] == "3" and params["qat_steps"] == "0" and params["quant.bits"] == "8"
    assert not {"original", "overwrite", "debug"} & set(params)
    assert compress_main([str(image), "pe.inr", "inr_codec=siren_pe", "inr_codec.steps=3", "inr_codec.qat.steps=0",
                          "inr_codec.hidden_features=8", "inr_codec.hidden_layers=1", f"tracking.uri={uri}"]) == 0
    pe_id = capsys.readouterr().out.strip().splitlines()[-1].split()[-1]
    params = mlflow.MlflowClient(uri).get_run(pe_id).data.params
    assert params["inr_codec"] == "siren_pe" and params["inr_codec.steps"] == "3"
    assert params["inr_codec.qat.steps"] == "0" and params["inr_codec.quant.bits"] == "8"
    assert not [k for k in params if k not in ("image", "inr_codec") and not k.startswith("inr_codec.")]


@pytest.mark.slow
def test_compress_with_a_fits_weights_compares_at_the_fits_sidelength(tmp_path, monkeypatch, capsys):
    # A fit of a.png at sidelength=8 holds a.png resized to 8x8: the same image given with sidelength=8 is accepted,
    # a.png at its own 16x16 is not the image the network holds.
    from siren_inr.cli.codec import compress_main

    monkeypatch.chdir(tmp_path)
    image = _png(tmp_path / "a.png")
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert compress_main([str(image), "a.inr", *CODEC, "sidelength=8", f"tracking.uri={uri}"]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1].split()[-1]
    assert compress_main([str(image), "b.inr", "sidelength=8", f"run_id={run_id}", f"tracking.uri={uri}"]) == 0
    capsys.readouterr()
    assert compress_main([str(image), "c.inr", f"run_id={run_id}", f"tracking.uri={uri}"]) == 2
    assert "sidelength=8" in _error_lines(capsys)[0]


# Probe 15: an output place that cannot be written was a traceback. Each is now one line, before any run or store.
@pytest.mark.slow
@pytest.mark.parametrize("place", ["/proc/siren-inr-nope", "afile", "afile/sub"])
def test_train_refuses_a_run_folder_that_cannot_be_made(tmp_path, monkeypatch, capsys, place):
    from siren_inr.cli.train import main

    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "img.png")
    (tmp_path / "afile").write_text("a file, not a folder")
    assert main(["data.image=img.png", "num_epochs=2", "trainer=cpu", f"hydra.run.dir={place}"]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("error: hydra.run.dir=") and "cannot be created" in line
    _nothing_made(tmp_path, "img.png", "afile")


@pytest.mark.slow
def test_rd_refuses_a_report_folder_that_cannot_be_made(tmp_path, monkeypatch, capsys):
    from siren_inr.cli.rd import main

    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "images" / "a.png")
    (tmp_path / "afile").write_text("a file, not a folder")
    assert main(["data.folder=images", "output_dir=afile/report", *RD]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("error: output_dir=afile/report: the report folder cannot be created there")
    _nothing_made(tmp_path, "images", "afile")


def test_an_os_error_about_a_file_is_one_line_naming_it(capsys):
    # What analyze gave in a read-only folder: the OSError of its output folder, as a traceback.
    import errno

    from siren_inr.cli.command import run_command

    def job(_argv):
        raise OSError(errno.EROFS, "Read-only file system", "analysis")

    def bug(_argv):
        raise OSError(errno.EBADF, "Bad file descriptor")  # not about a place: a bug, its traceback stays

    assert run_command([], "siren-inr x", "usage", job) == 1
    [line] = _error_lines(capsys)
    assert line == "error: analysis: Read-only file system"
    with pytest.raises(OSError):
        run_command([], "siren-inr x", "usage", bug)
