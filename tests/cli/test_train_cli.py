"""`siren-inr train` as a user runs it: the real CLI, a real SQLite store, every artifact, bad input."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time

import mlflow
import numpy as np
import pytest
from PIL import Image

from siren_inr.cli.train import main as train_main
from testkit import run_cli, store_uri

TINY = ["data.sidelength=null", "model.hidden_features=32", "model.hidden_layers=2", "optim.lr=1e-3",
        "trainer=cpu", "log_every_n_steps=5"]
ARTIFACTS = {"config/config.yaml", "config/overrides.yaml", "history/history.csv", "images/reconstruction.png",
             "images/reconstruction_gray.png", "images/comparison.png", "images/ground_truth.png",
             "plots/history.png", "checkpoints/last.ckpt"}


def _artifact_paths(client, run_id, path=None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def _only_run(folder, experiment="e2e"):
    client = mlflow.MlflowClient(store_uri(folder))
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    runs = client.search_runs([experiment_id])
    assert len(runs) == 1
    return client, runs[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny fit through the real CLI, shared by the tests that inspect its run."""
    from PIL import Image
    import numpy as np
    from testkit import smooth_image

    folder = tmp_path_factory.mktemp("e2e")
    image = folder / "img.png"
    Image.fromarray((smooth_image(24)[..., 0] * 255).round().astype(np.uint8)).save(image)
    result = run_cli(["train", f"data.image={image}", "num_epochs=30", "experiment_name=e2e", "seed=7", *TINY],
                     cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, image, result


@pytest.mark.slow
def test_run_holds_params_histories_and_every_artifact(trained):
    folder, image, result = trained
    client, run = _only_run(folder)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["model.name"] == "siren" and params["model.hidden_features"] == "32"
    assert params["model.out_features"] == "1" and params["data.image"] == str(image)
    assert params["optim.lr"] == "0.001" and params["num_epochs"] == "30" and params["seed"] == "7"
    for key in ("train/loss", "train/psnr", "train/ssim"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [0, 5, 10, 15, 20, 25, 30]
    psnr = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "train/psnr"), key=lambda m: m.step)]
    assert psnr[-1] > psnr[0] + 5, psnr
    metrics = run.data.metrics
    assert metrics["final/psnr"] == pytest.approx(psnr[-1], abs=1e-4)
    assert {"final/ssim", "final/mse", "final/seconds", "final/steps"} <= set(metrics)
    for tag in ("git_commit", "git_dirty", "versions.torch", "versions.mlflow", "device", "host"):
        assert run.data.tags.get(tag), tag
    assert ARTIFACTS <= _artifact_paths(client, run.info.run_id)
    # Plain progress lines (stdout is not a terminal) and the closing summary.
    assert "step      30/30" in result.stdout and f"run {run.info.run_id}" in result.stdout


@pytest.mark.slow
def test_history_csv_has_the_old_layout(trained):
    folder, _, _ = trained
    client, run = _only_run(folder)
    local = client.download_artifacts(run.info.run_id, "history/history.csv", str(folder))
    with open(local, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["epoch", "train_loss", "train_psnr", "train_ssim"]
    assert [float(r["epoch"]) for r in rows] == [0, 5, 10, 15, 20, 25, 30]


@pytest.mark.slow
def test_same_seed_same_history_exactly(trained, tmp_path):
    folder, image, _ = trained
    again = run_cli(["train", f"data.image={image}", "num_epochs=30", "experiment_name=e2e", "seed=7", *TINY],
                    cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    (client_a, run_a), (client_b, run_b) = _only_run(folder), _only_run(tmp_path)
    for key in ("train/loss", "train/psnr", "train/ssim"):
        a = [(m.step, m.value) for m in client_a.get_metric_history(run_a.info.run_id, key)]
        b = [(m.step, m.value) for m in client_b.get_metric_history(run_b.info.run_id, key)]
        assert sorted(a) == sorted(b)
    for key in ("final/psnr", "final/ssim", "final/mse"):
        assert run_a.data.metrics[key] == run_b.data.metrics[key]


@pytest.mark.slow
def test_evaluate_a_checkpoint_without_training(trained, tmp_path):
    folder, image, _ = trained
    client, run = _only_run(folder)
    ckpt = client.download_artifacts(run.info.run_id, "checkpoints/last.ckpt", str(tmp_path))
    result = run_cli(["train", "evaluate=true", f"ckpt_path={ckpt}", f"data.image={image}", "data.sidelength=null",
                      "trainer=cpu", "experiment_name=eval"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    client_e, evaluated = _only_run(tmp_path, "eval")
    assert evaluated.data.tags["mode"] == "evaluate" and "final/steps" not in evaluated.data.metrics
    assert evaluated.data.metrics["final/psnr"] == pytest.approx(run.data.metrics["final/psnr"], abs=1e-5)
    assert evaluated.data.params["model.hidden_features"] == "32"  # the architecture comes from the checkpoint
    assert {"images/comparison.png", "history/history.csv"} <= _artifact_paths(client_e, evaluated.info.run_id)


def _bad(argv, tmp_path, monkeypatch, capsys) -> str:
    monkeypatch.chdir(tmp_path)
    try:
        code = train_main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[")]
    assert code not in (0, None)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert not (tmp_path / "mlruns").exists()  # nothing half-written
    assert not (tmp_path / "outputs").exists()  # refused before Hydra makes the run's folder
    return lines[0]


@pytest.mark.parametrize("argv,needle", [
    (["data.image=missing.png"], "'missing.png'"),
    (["model=transformer"], "transformer"),
    (["data.sidelength=0"], "data.sidelength=0"),
    (["data.sidelength=-8"], "data.sidelength=-8"),
    (["optim.lr=0"], "optim.lr=0"),
    (["optim.lr=-0.1"], "optim.lr=-0.1"),
    (["num_epochs=0"], "num_epochs=0"),
    (["num_epochs=-5"], "num_epochs=-5"),
    (["data.sidelength=400000"], "data.sidelength=400000"),
    (["no_such_setting=1"], "no_such_setting"),
    (["evaluate=true"], "ckpt_path"),
    (["ckpt_path=nowhere.ckpt"], "nowhere.ckpt"),
    (["experiment_name="], "experiment_name=''"),
    (["experiment_name=null"], "full_key: experiment_name"),
    (["evaluate=maybe"], "'maybe' is not a valid bool (type str); full_key: evaluate"),
    (["show=maybe"], "full_key: show"),
    # Values that passed the old checks and crashed later (issue 13, item 5); unknown keys added with + (item 6).
    (["num_epochs=2.0"], "full_key: num_epochs"),
    (["num_epochs=1e12"], "full_key: num_epochs"),
    (["num_epochs=1000000000000"], "num_epochs=1000000000000; accepted: a positive integer up to"),
    (["data.batch_size=64.0"], "full_key: data.batch_size"),
    (["optim.lr=nan"], "optim.lr=nan; accepted: a positive finite number"),
    (["optim.lr=inf"], "optim.lr=inf"),
    (["data.sidelength=1"], "data.sidelength=1; accepted: an integer >= 3"),
    (["data.sidelength=2"], "data.sidelength=2"),
    (["trainer.precision=bogus"], "trainer.precision='bogus'; accepted: 32-true"),
    (["trainer.devices=0"], "trainer.devices=0"),
    (["seed=2**70"], "full_key: seed"),
    (["seed=4294967296"], "seed=4294967296; accepted: an integer from 0 to 4294967295"),
    (["+num_epoch=3"], "unknown setting num_epoch (did you mean num_epochs?)"),
    (["+data.foo=1"], "unknown setting data.foo"),
    (["model.no_such=1"], "model.no_such"),
])
def test_bad_input_one_line_nonzero_nothing_written(argv, needle, tmp_path, monkeypatch, capsys):
    assert needle in _bad([*argv, "trainer=cpu"], tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("kind", ["empty", "text", "folder", "thin"])
def test_bad_image_files(kind, tmp_path, monkeypatch, capsys):
    target = tmp_path / "input.png"
    if kind == "empty":
        target.write_bytes(b"")
    elif kind == "text":
        target.write_text("not an image")
    elif kind == "thin":  # 40 x 1: SSIM needs 3 x 3
        Image.fromarray(np.zeros((1, 40), dtype=np.uint8)).save(target)
    else:
        target.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    line = _bad([f"data.image={target}", "trainer=cpu", "data.sidelength=null"], work, monkeypatch, capsys)
    assert str(target) in line


@pytest.mark.slow
def test_bad_input_through_the_console_script(tmp_path):
    result = run_cli(["train", "model=nope"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "nope" in result.stderr and "siren" in result.stderr
    assert not (tmp_path / "mlruns").exists()
    unknown = run_cli(["frobnicate"], cwd=tmp_path)
    assert unknown.returncode == 2 and "frobnicate" in unknown.stderr


@pytest.mark.slow
def test_sigterm_marks_the_run_killed_not_running(tmp_path, tiny_png):
    process = subprocess.Popen([sys.executable, "-m", "siren_inr", "train", f"data.image={tiny_png}",
                                "num_epochs=1000000", "experiment_name=e2e", *TINY], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            line = process.stdout.readline()
            if line.startswith("step") and int(line.split()[1].split("/")[0]) >= 10:
                break  # the run exists and is training
            if process.poll() is not None:
                break
        assert process.poll() is None, process.stderr.read()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0
    _, run = _only_run(tmp_path)
    assert run.info.status == "KILLED"
