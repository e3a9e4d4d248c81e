"""Sweeps as a user runs them: joblib and submitit_local launchers, a fresh SQLite store, a real mlflow server,
and the Optuna search; every job a finished run with a full history, all sharing one sweep id."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import mlflow
import numpy as np
import pytest
from PIL import Image

from testkit import free_port, run_cli, smooth_image, store_uri

EPOCHS, EVERY = 8, 2
STEPS = list(range(0, EPOCHS, EVERY)) + [EPOCHS]
KEYS = ("train/loss", "train/psnr", "train/ssim")


@pytest.fixture
def tiny_settings(tmp_path) -> list[str]:
    path = tmp_path / "tiny.png"
    Image.fromarray((smooth_image(16)[..., 0] * 255).round().astype(np.uint8)).save(path)
    return [f"data.image={path}", "data.sidelength=null", "model.hidden_features=8", "model.hidden_layers=1",
            f"num_epochs={EPOCHS}", f"log_every_n_steps={EVERY}", "trainer=cpu", "progress=none"]


def check_sweep(uri: str, jobs: int, names: set[str]) -> str:
    """Every job of the one sweep in the store finished with a full history, under a finished parent run."""
    client = mlflow.MlflowClient(uri)
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(experiment_ids, filter_string="tags.run_kind = 'sweep'")
    sweep_id = parent.data.tags["sweep"]
    runs = client.search_runs(experiment_ids, filter_string=f"tags.sweep_id = '{sweep_id}'")
    assert len(runs) == jobs, [r.info.run_name for r in runs]
    assert parent.info.run_id not in {r.info.run_id for r in runs}  # selecting the sweep gives its fits only
    assert sorted(int(r.data.tags["hydra_job_num"]) for r in runs) == list(range(jobs))
    assert {r.info.run_name for r in runs} == names
    for run in runs:
        assert run.info.status == "FINISHED", run.info.run_name
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        for key in KEYS:
            steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
            assert steps == STEPS, f"{run.info.run_name} {key}: {steps}"
        assert "final/psnr" in run.data.metrics
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["sweep/jobs_finished"] == jobs and parent.data.metrics["sweep/jobs_failed"] == 0
    best = max(runs, key=lambda r: r.data.metrics["final/psnr"])
    assert parent.data.tags["best_run_id"] == best.info.run_id
    return sweep_id


GRID = ["model=siren,relu", "seed=0,1"]
GRID_NAMES = {"siren seed=0", "siren seed=1", "relu seed=0", "relu seed=1"}  # the model first, then what differs


@pytest.mark.slow
def test_joblib_sweep_on_a_fresh_store_records_every_run(tmp_path, tiny_settings):
    # Two parallel jobs against a store that does not exist yet: without creating it once, up front, the
    # jobs race on the SQLite schema and some runs are lost.
    assert not (tmp_path / "mlruns").exists()
    result = run_cli(["train", "-m", *GRID, *tiny_settings, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                     cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_id = check_sweep(store_uri(tmp_path), 4, GRID_NAMES)
    assert f"select it with: siren-inr analyze sweep={sweep_id}" in result.stdout
    # One output folder per job under the sweep folder, and no run left in outputs/.
    (sweep_dir,) = list((tmp_path / "multirun").glob("*/*"))
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` on 127.0.0.1 (SQLite backend, proxied artifacts), stopped after the test."""
    port = free_port()
    folder = tmp_path / "server"
    folder.mkdir()
    log = open(folder / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                             "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"],
                            cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (folder / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not come up in 120 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, 15)  # the server's own process group: it and its uvicorn workers
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_joblib_sweep_against_a_real_mlflow_server(tmp_path, tiny_settings, mlflow_server):
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(["train", "-m", *GRID, *tiny_settings, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                      f"tracking.uri={mlflow_server}"], cwd=work, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (work / "mlruns").exists(), "everything goes to the server"
    check_sweep(mlflow_server, 4, GRID_NAMES)
    client = mlflow.MlflowClient(mlflow_server)
    (run, *_) = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                   filter_string="tags.hydra_job_num = '0'")
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"config", "history", "images", "checkpoints"}


@pytest.mark.slow
def test_submitit_local_sweep(tmp_path, tiny_settings):
    result = run_cli(["train", "-m", "model=siren,relu", *tiny_settings, "hydra/launcher=submitit_local",
                      "hydra.launcher.timeout_min=10"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    check_sweep(store_uri(tmp_path), 2, {"siren", "relu"})
    assert list((tmp_path / "multirun").glob("*/*/.submitit"))  # the jobs really went through submitit



@pytest.mark.slow
def test_optuna_search_runs_tracked_trials(tmp_path, tiny_settings, monkeypatch, capsys):
    from siren_inr.cli.train import main as train_main

    monkeypatch.chdir(tmp_path)
    space = ["hparams_search.params.model.hidden_features={choices:[4,8]}",
             "hparams_search.params.model.first_omega_0={low:20.0,high:40.0}"]
    code = train_main(["-m", "hparams_search=siren_optuna", "hparams_search.n_trials=3", *space,
                       *[s for s in tiny_settings if not s.startswith("model.hidden_features")]])
    out = capsys.readouterr().out
    assert code == 0, out
    client = mlflow.MlflowClient(store_uri(tmp_path))
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    (parent,) = client.search_runs(experiment_ids, filter_string="tags.run_kind = 'sweep'")
    runs = client.search_runs(experiment_ids, filter_string=f"tags.sweep_id = '{parent.data.tags['sweep']}'")
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    for run in runs:
        # The sampled values are what the trial actually fitted, and inside the declared ranges.
        lr, omega, width = (run.data.params["optim.lr"], run.data.params["model.first_omega_0"],
                            run.data.params["model.hidden_features"])
        assert 1e-5 <= float(lr) <= 1e-3 and 20.0 <= float(omega) <= 40.0 and width in ("4", "8")
        assert f"optim.lr={lr}" in run.info.run_name
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "train/psnr"))
        assert steps == STEPS
    best = max(runs, key=lambda r: r.data.metrics["final/psnr"])
    assert parent.data.tags["best_value"] == str(best.data.metrics["final/psnr"])
    assert parent.data.tags["best.optim.lr"] == best.data.params["optim.lr"]
    # The parent's best-so-far curve never decreases (maximize) and ends at the best trial.
    curve = [m.value for m in sorted(client.get_metric_history(parent.info.run_id, "optuna/best_value"),
                                     key=lambda m: m.step)]
    assert curve == sorted(curve) and curve[-1] == best.data.metrics["final/psnr"]
    assert f"siren-inr analyze sweep={parent.data.tags['sweep']}" in out


def test_optuna_search_rejects_bad_settings(tmp_path, monkeypatch, capsys):
    from siren_inr.cli.train import main as train_main

    monkeypatch.chdir(tmp_path)
    assert train_main(["-m", "hparams_search=siren_optuna", "hparams_search.metric=final/lpips"]) == 2
    assert "hparams_search.metric='final/lpips'; accepted: final/psnr" in capsys.readouterr().err
    assert train_main(["-m", "hparams_search=siren_optuna", "seed=0,1"]) == 2
    assert "give single values" in capsys.readouterr().err
    assert not (tmp_path / "mlruns").exists()  # refused before any store or run was made


@pytest.mark.slow
def test_sweep_with_an_empty_experiment_name_is_refused_before_any_store(tmp_path):
    done = run_cli(["train", "-m", "experiment_name=", "seed=0,1", "trainer=cpu", "data.sidelength=8",
                    "num_epochs=1"], tmp_path)
    assert done.returncode == 2 and "experiment_name=''" in done.stderr
    assert not (tmp_path / "mlruns").exists()


def test_slurm_launcher_config_composes_into_submitits_slurm_launcher():
    from siren_inr.cli.hydra_support import compose

    cfg = compose(["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4",
                   "hydra.launcher.tasks_per_node=4"], "train", return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 4, 4)
    assert launcher.timeout_min == 120 and launcher.array_parallelism == 32
    assert cfg.hydra.callbacks.sweep_tracking._target_ == "siren_inr.cli.sweep.SweepTracking"
