"""trainer=ddp: two CPU processes (gloo) give the single-process fit, with one run, one folder, one checkpoint."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time

import mlflow
import numpy as np
import pytest
from PIL import Image

from siren_inr.cli.config import job_from_config
from siren_inr.jobs.train import run_train_job
from testkit import process_alive, process_children, run_cli, smooth_image, store_uri

KEYS = ("train/loss", "train/psnr", "train/ssim")


def _compose(overrides: list[str]):
    from siren_inr.cli.config import compose

    return compose(overrides, "train")


def _history(client, run_id: str) -> dict[str, list[tuple[int, float]]]:
    return {key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key)) for key in KEYS}


@pytest.mark.slow
def test_two_process_ddp_matches_single_process_fit(tmp_path):
    # 15x15 = 225 pixels: the two interleaved shards hold 113 and 112 pixels, so an unweighted average of
    # the two shard losses would differ from the full-image loss; the fit must still match.
    path = tmp_path / "odd.png"
    Image.fromarray((smooth_image(15)[..., 0] * 255).round().astype(np.uint8)).save(path)
    common = [f"data.image={path}", "data.sidelength=null", "model.hidden_features=16", "model.hidden_layers=2",
              "optim.lr=1e-3", "num_epochs=12", "log_every_n_steps=3", "progress=none", "seed=3"]
    ddp_dir = tmp_path / "ddp"
    ddp_dir.mkdir()
    ddp = run_cli(["train", "trainer=ddp", *common], cwd=ddp_dir, env={"OMP_NUM_THREADS": "1"}, timeout=240)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in ddp.stdout + ddp.stderr  # two processes really ran
    ddp_client = mlflow.MlflowClient(store_uri(ddp_dir))
    ddp_runs = ddp_client.search_runs([e.experiment_id for e in ddp_client.search_experiments()])
    assert len(ddp_runs) == 1, "rank 1 must not open a run of its own"
    ddp_run = ddp_runs[0]

    # The reference: the same config fitted in this process, one device.
    single_dir = tmp_path / "single"
    job = job_from_config(_compose([*common, "trainer=cpu"]))
    job.output_dir, job.tracking_uri = single_dir, store_uri(single_dir)
    single_run_id = run_train_job(job).run_id
    single_client = mlflow.MlflowClient(store_uri(single_dir))
    single_run = single_client.get_run(single_run_id)
    assert ddp_run.info.status == "FINISHED"
    assert ddp_run.data.params["trainer.strategy"] == "ddp" and ddp_run.data.params["trainer.devices"] == "2"

    ddp_hist, single_hist = _history(ddp_client, ddp_run.info.run_id), _history(single_client, single_run.info.run_id)
    for key in KEYS:
        steps = [s for s, _ in single_hist[key]]
        assert steps == [0, 3, 6, 9, 12], key
        assert [s for s, _ in ddp_hist[key]] == steps, f"{key}: one point per step, logged once"
        np.testing.assert_allclose([v for _, v in ddp_hist[key]], [v for _, v in single_hist[key]],
                                   rtol=1e-5, atol=1e-6, err_msg=key)
    # The fit made progress, so agreement is not the trivial agreement of two untrained networks.
    assert single_hist["train/loss"][-1][1] < 0.9 * single_hist["train/loss"][0][1]
    for key in ("final/psnr", "final/ssim", "final/mse"):
        assert math.isclose(ddp_run.data.metrics[key], single_run.data.metrics[key], rel_tol=1e-5, abs_tol=1e-6), key

    # One Hydra output folder (rank 1 ran in rank 0's folder), one checkpoint, one copy of every output.
    folders = [p for p in (ddp_dir / "outputs").glob("*/*") if p.is_dir()]
    assert len(folders) == 1, folders
    out = folders[0]
    assert (out / "train_ddp_process_1.log").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.ckpt"]
    assert len((out / "history" / "history.csv").read_text().strip().splitlines()) == 1 + 5


@pytest.mark.slow
def test_ddp_jobs_of_a_sweep_each_give_one_run_in_their_own_folder(tmp_path):
    # Two DDP jobs one after another in one process: the second must not reuse the first one's process
    # group or rank variables, and rank 1 must re-run its job alone (not the sweep) in the job's folder.
    settings = ["data.sidelength=16", "model.hidden_features=8", "model.hidden_layers=1", "num_epochs=4",
                "log_every_n_steps=2", "progress=none", "trainer=ddp"]
    result = run_cli(["train", "-m", "seed=0,1", *settings], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"},
                     timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(store_uri(tmp_path))
    runs = [r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
            if r.data.tags.get("run_kind") != "sweep"]
    assert sorted(r.info.run_name for r in runs) == ["siren seed=0", "siren seed=1"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "train/loss")) == [0, 2, 4]
    assert not (tmp_path / "outputs").exists(), "rank 1 ran as a job of the sweep, not as a new single run"
    (sweep_dir,) = (tmp_path / "multirun").glob("*/*")
    for job in ("0", "1"):
        assert (sweep_dir / job / "train_ddp_process_1.log").is_file()
        assert (sweep_dir / job / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]


@pytest.mark.parametrize("size, batch", [(15, None), (15, 50), (16, 40)])
def test_pixels_in_step_counts_every_rank_batch(size, batch):
    """The DDP loss weight: pixels all ranks use at a step equal the sizes of the batches each rank draws."""
    from types import SimpleNamespace

    import torch

    from siren_inr.data.field import PixelField
    from siren_inr.fit.module import INRFitModule
    from siren_inr.fit.settings import FitSettings

    field = PixelField.from_image(smooth_image(size))
    fit_settings = FitSettings(batch_size=batch, accelerator="cpu")
    settings = fit_settings.as_dict()
    world = 2
    modules = []
    for rank in range(world):
        module = INRFitModule("relu", {"hidden_features": 4, "hidden_layers": 1, "out_features": 1}, settings, field)
        module._trainer = SimpleNamespace(world_size=world, global_rank=rank)  # what setup() reads
        INRFitModule.setup(module, "fit")
        modules.append(module)
    for step in range(fit_settings.steps_per_epoch(size * size, world)):
        used = sum(m._batch(step)[0].shape[0] for m in modules)
        assert modules[0]._pixels_in_step(step) == used == modules[1]._pixels_in_step(step)
    # Shards are disjoint and cover the image.
    all_coords = torch.cat([m.shard_coords for m in modules])
    assert all_coords.shape[0] == size * size
    assert torch.unique(all_coords, dim=0).shape[0] == size * size


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ranks die with their launcher through Linux prctl")
def test_sigkill_of_a_ddp_fit_leaves_no_rank_behind(tmp_path):
    # Probe 12 of issue 22: the rank-1 worker of a killed `trainer=ddp` fit lived on, holding 430 MB.
    path = tmp_path / "img.png"
    Image.fromarray((smooth_image(16)[..., 0] * 255).round().astype(np.uint8)).save(path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    fit = subprocess.Popen([sys.executable, "-m", "siren_inr", "train", "trainer=ddp", f"data.image={path}",
                            "data.sidelength=null", "num_epochs=1000000", "progress=lines"], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ranks: list[int] = []
    try:
        deadline = time.monotonic() + 180
        for line in fit.stdout:
            if "MEMBER: 2/2" in line or time.monotonic() > deadline:
                break
        deadline = time.monotonic() + 60
        while not ranks and time.monotonic() < deadline:
            ranks = [pid for pid in process_children(fit.pid) if "train.py" in open(f"/proc/{pid}/cmdline").read()]
            time.sleep(0.2)
        assert ranks, "the fit started no rank-1 process"
        fit.send_signal(signal.SIGKILL)
        fit.wait(30)
        deadline = time.monotonic() + 15
        while any(process_alive(pid) for pid in ranks) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(process_alive(pid) for pid in ranks), "a rank outlived its killed launcher"
    finally:
        for pid in [fit.pid, *ranks]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        fit.stdout.close()
