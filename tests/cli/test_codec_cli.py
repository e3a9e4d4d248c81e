"""`siren-inr compress` / `decompress` as a user runs them: exact round trip, printed numbers, bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from siren_inr.cli.codec import compress_main, decompress_main
from siren_inr.compression.codec import read_inr
from siren_inr.data import load_image
from siren_inr.metrics.quality import psnr_db, ssim
from testkit import run_cli, smooth_image

TINY = ["model.hidden_layers=2", "model.hidden_features=16", "num_epochs=60", "optim.lr=1e-3", "trainer=cpu",
        "qat_steps=10", "quant.bits=7", "track=false"]
TRACKED = [a for a in TINY if a != "track=false"]  # the same fit with the default track=true
NUMBERS = re.compile(r"(\d+) bytes, ([\d.]+) bpp(?:, PSNR ([\d.]+) dB, SSIM ([\d.]+))?")


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("codec") / "photo.png"
    Image.fromarray((smooth_image(20, channels=3) * 255).round().astype(np.uint8)).save(path)
    return path


@pytest.mark.slow
def test_compress_then_decompress_twice_one_in_a_subprocess(photo, tmp_path, capsys):
    inr = tmp_path / "photo.inr"
    assert compress_main([str(photo), str(inr), *TINY]) == 0
    size, bpp, psnr, ssim_value = NUMBERS.search(capsys.readouterr().out).groups()
    assert int(size) == inr.stat().st_size and float(bpp) == pytest.approx(8 * inr.stat().st_size / 400, abs=1e-4)
    done = run_cli(["decompress", str(inr), str(tmp_path / "a.png"), f"original={photo}"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert NUMBERS.search(done.stdout).groups() == (size, bpp, psnr, ssim_value)
    assert decompress_main([str(inr), str(tmp_path / "b.png"), f"original={photo}"]) == 0
    assert NUMBERS.search(capsys.readouterr().out).groups() == (size, bpp, psnr, ssim_value)
    outs = [np.asarray(Image.open(tmp_path / name)) for name in ("a.png", "b.png")]
    assert np.array_equal(outs[0], outs[1])
    # The printed PSNR/SSIM are those of the written PNG against the original, computed independently here.
    decoded, original = outs[0].astype(np.float32) / 255, load_image(str(photo), None)
    assert float(psnr) == pytest.approx(psnr_db(decoded, original), abs=1e-4)
    assert float(ssim_value) == pytest.approx(ssim(decoded, original), abs=1e-4)
    assert np.array_equal(read_inr(inr).image_u8, outs[0])


def test_in_process_settings_reach_the_file(photo, tmp_path, capsys):
    inr = tmp_path / "x.inr"
    assert compress_main([str(photo), str(inr), *TINY, "quant.mode=fp16", "coder=zlib", "seed=3"]) == 0
    decoded = read_inr(inr)
    assert decoded.quant.mode == "fp16" and decoded.method == "zlib"
    assert decoded.hparams["hidden_layers"] == 2 and decoded.hparams["hidden_features"] == 16
    assert decompress_main([str(inr), str(tmp_path / "x.png")]) == 0
    assert "PSNR" not in capsys.readouterr().out.splitlines()[-1]  # no original given: no quality


# one bad override -> what its one-line error must name
BAD_SETTINGS = {"quant.bits=0": "quant.bits", "quant.mode=int4": "quant.mode", "coder=huffman": "coder",
                "qat_steps=-2": "qat_steps", "model=nosuch": "bad setting", "num_epochs=0": "num_epochs"}


@pytest.mark.parametrize("setting, message", BAD_SETTINGS.items())
def test_bad_settings_are_one_line_errors(photo, tmp_path, capsys, setting, message):
    assert compress_main([str(photo), str(tmp_path / "y.inr"), *TINY, setting]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not (tmp_path / "y.inr").exists()


def test_damaged_and_foreign_files_and_missing_paths(photo, tmp_path, capsys):
    inr = tmp_path / "z.inr"
    assert compress_main([str(photo), str(inr), *TINY]) == 0
    data = bytearray(inr.read_bytes())
    data[len(data) // 2] ^= 0x10
    (tmp_path / "bad.inr").write_bytes(bytes(data))
    (tmp_path / "short.inr").write_bytes(inr.read_bytes()[:-7])
    cases = [([str(tmp_path / "bad.inr"), str(tmp_path / "o.png")], "damaged"),
             ([str(tmp_path / "short.inr"), str(tmp_path / "o.png")], "damaged or truncated"),
             ([str(photo), str(tmp_path / "o.png")], "not an .inr file"),
             ([str(tmp_path / "none.inr"), str(tmp_path / "o.png")], "does not exist"),
             ([str(inr), str(tmp_path / "o.png"), f"original={tmp_path / 'gone.png'}"], "gone.png"),
             ([str(inr)], "expected IN.inr and OUT.png")]
    for argv, message in cases:
        capsys.readouterr()
        assert decompress_main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_compress_takes_a_tracked_runs_weights(photo, tmp_path, capsys):
    """run_id=...: the file holds the tracked fit's last.ckpt weights (quantized), nothing is refitted."""
    pytest.importorskip("siren_inr.tracking.queries", reason="run_id= downloads through siren_inr.tracking.queries")
    import mlflow
    import torch

    from siren_inr.cli.train import main as train_main
    from siren_inr.compression.codec import quantized_state
    from siren_inr.compression.quantize import QuantSettings
    from siren_inr.fit.trainer import load_module
    from siren_inr.data import PixelField

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    assert train_main([f"data.image={photo}", "data.sidelength=null", "model.hidden_features=12",
                       "model.hidden_layers=2", "num_epochs=20", "trainer=cpu", f"tracking.uri={uri}",
                       "experiment_name=codec", "progress=none"]) == 0
    client = mlflow.MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("codec").experiment_id])[0]
    inr = tmp_path / "tracked.inr"
    assert compress_main([str(photo), str(inr), f"run_id={run.info.run_id}", f"tracking.uri={uri}", "qat_steps=0",
                          "model.hidden_layers=7"]) == 0  # the run's architecture wins over model.*
    decoded = read_inr(inr)
    ckpt = client.download_artifacts(run.info.run_id, "checkpoints/last.ckpt", str(tmp_path))
    module = load_module(ckpt, PixelField.from_image(load_image(str(photo), None)))
    expected = quantized_state(module.net, QuantSettings())
    assert decoded.hparams["hidden_layers"] == 2
    for key, value in decoded.model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    # The encoding of those weights is a run of its own that names its source and holds the file.
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("MLflow run ")
    encoding = client.get_run(lines[-1].split()[-1])
    assert encoding.info.status == "FINISHED" and encoding.info.run_id != run.info.run_id
    assert encoding.data.tags["source_run_id"] == run.info.run_id and encoding.data.tags["mode"] == "compress"
    assert encoding.data.metrics["inr/num_bytes"] == inr.stat().st_size
    assert encoding.data.params["model.hidden_layers"] == "2"
    assert compress_main([str(photo), str(inr), "run_id=0123456789abcdef", f"tracking.uri={uri}"]) == 2
    assert capsys.readouterr().err.startswith("error:")


@pytest.mark.slow
def test_tracked_compress_is_one_run_with_the_fit_and_the_file(photo, tmp_path, capsys):
    """track=true (the default): the fit's history, checkpoint and images, plus the file and its numbers."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    inr = tmp_path / "tracked.inr"
    tracked = [*TRACKED, f"tracking.uri={uri}", "log_every_n_steps=20"]
    assert compress_main([str(photo), str(inr), *tracked]) == 0
    out = capsys.readouterr().out
    size, bpp, psnr, ssim_value = NUMBERS.search(out).groups()
    run_id = out.strip().splitlines()[-1].split()[-1]
    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["mode"] == "compress"
    assert client.get_experiment(run.info.experiment_id).name == "siren-inr-compress"
    metrics, params = run.data.metrics, run.data.params
    assert metrics["inr/num_bytes"] == int(size) == inr.stat().st_size
    assert metrics["inr/bpp"] == pytest.approx(float(bpp), abs=1e-4)
    assert metrics["inr/psnr_db"] == pytest.approx(float(psnr), abs=1e-4)
    assert metrics["inr/ssim"] == pytest.approx(float(ssim_value), abs=1e-4)
    assert "final/psnr" in metrics and "inr/quant_psnr_db_after_qat" in metrics
    assert params["quant.bits"] == "7" and params["model.hidden_features"] == "16"
    steps = [m.step for m in client.get_metric_history(run_id, "train/psnr")]
    assert steps == [0, 20, 40, 60]  # the initial network, then every log_every_n_steps
    listed = {f.path for folder in ("compressed", "images", "checkpoints")
              for f in client.list_artifacts(run_id, folder)}
    assert {"compressed/tracked.inr", "images/decoded.png", "checkpoints/last.ckpt"} <= listed
    stored = client.download_artifacts(run_id, "compressed/tracked.inr", str(tmp_path))
    assert open(stored, "rb").read() == inr.read_bytes()
    # Tracking changes nothing in the file: the untracked fit with the same seed writes the same bytes.
    plain = tmp_path / "plain.inr"
    assert compress_main([str(photo), str(plain), *TINY]) == 0
    assert plain.read_bytes() == inr.read_bytes()


def test_bad_input_with_tracking_creates_no_store(photo, tmp_path, capsys):
    store = tmp_path / "store"
    for bad, named in ((["model.hidden_features=-3"], "hidden_features"), (["quant.bits=0"], "quant.bits"),
                       (["sidelength=0"], "sidelength"), (["seed=-1"], "seed"),
                       (["experiment_name="], "experiment_name"), (["track=maybe"], "full_key: track")):
        args = [str(photo), str(tmp_path / "bad.inr"), *TRACKED,
                f"tracking.uri=sqlite:///{store / 'mlflow.db'}", *bad]
        assert compress_main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and named in err
    assert not store.exists() and not (tmp_path / "bad.inr").exists()
    (tmp_path / "afile").write_text("")
    assert compress_main([str(photo), str(tmp_path / "afile" / "sub" / "x.inr"), *TINY]) == 2
    assert "is not a folder" in capsys.readouterr().err  # refused before the fit, not when writing after it
