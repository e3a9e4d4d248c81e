"""resume=<run_id>: a fit killed with SIGKILL continues from its last checkpoint in the same MLflow run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import mlflow
import numpy as np
import pytest
import torch
from PIL import Image

from siren_inr.errors import SirenInrError
from siren_inr.tracking.rerun import HISTORY_KEYS
from siren_inr.tracking.resume import find_resume_point
from testkit import run_cli, smooth_image, store_uri

EPOCHS, LOG_EVERY, CKPT_EVERY = 600, 5, 25


def _history(client, run_id):
    return {k: [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, k), key=lambda m: m.step)]
            for k in HISTORY_KEYS}


def _compose(overrides):
    from siren_inr.cli.config import compose

    return compose(overrides, "train")


@pytest.mark.slow
def test_killed_fit_resumes_in_the_same_run_without_gaps_or_duplicates(tmp_path):
    image = tmp_path / "img.png"
    Image.fromarray((smooth_image(16) * 255).round().astype(np.uint8)[..., 0]).save(image)
    settings = [f"data.image={image}", "data.sidelength=null", "model.hidden_features=16", "model.hidden_layers=2",
                "optim.lr=2e-4", f"num_epochs={EPOCHS}", f"log_every_n_steps={LOG_EVERY}",
                f"last_ckpt_every_n_epochs={CKPT_EVERY}", "trainer=cpu", "progress=none", "seed=5"]
    work = tmp_path / "work"
    work.mkdir()
    uri = store_uri(work)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "siren_inr", "train", *settings], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run_id, killed_at, client = None, None, None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            # The store is touched only once a checkpoint exists: by then the fit's process has created it
            # (two processes creating one SQLite schema at once would race).
            if not list(work.glob("outputs/*/*/checkpoints/last.ckpt")):
                continue
            client = client or mlflow.MlflowClient(uri)
            if run_id is None:
                run_id = client.search_runs([e.experiment_id for e in client.search_experiments()])[0].info.run_id
            steps = [m.step for m in client.get_metric_history(run_id, "train/loss")]
            # Kill once points were logged after the checkpoint: the resumed fit must not log them twice.
            if steps and max(steps) > CKPT_EVERY + LOG_EVERY:
                proc.send_signal(signal.SIGKILL)
                killed_at = max(steps)
                break
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed_at is not None, f"the fit ended before it could be killed: {proc.stderr.read()[-2000:]}"
    assert killed_at < EPOCHS, "killed too late to test anything"
    client = mlflow.MlflowClient(uri)
    assert client.get_run(run_id).info.status == "RUNNING"  # SIGKILL leaves no chance to close the run
    point = find_resume_point(uri, run_id)
    ckpt_step = int(torch.load(point.checkpoint, map_location="cpu", weights_only=True)["global_step"])
    before = _history(client, run_id)

    resumed = run_cli(["train", f"resume={run_id}", "progress=none"], cwd=work, env={"OMP_NUM_THREADS": "1"})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"run {run_id}:" in resumed.stdout

    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.run_id for r in runs] == [run_id], "the resume continues the same run, it opens no other"
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert int(run.data.tags["resumed_from_step"]) == ckpt_step
    after = _history(client, run_id)
    expected_steps = list(range(0, EPOCHS, LOG_EVERY)) + [EPOCHS]
    for key in HISTORY_KEYS:
        assert [s for s, _ in after[key]] == expected_steps, (
            f"{key}: a gap or a duplicated step (killed after step {killed_at}, checkpoint at {ckpt_step}, "
            f"logged before the kill up to {before[key][-1][0]}): {[s for s, _ in after[key]]}")
        # Points the killed process logged are kept as they were.
        assert dict(before[key]).items() <= dict(after[key]).items()
    # The steps between the checkpoint and the kill were recomputed and found identical (CPU, deterministic).
    assert run.data.metrics["resume/overlap_points"] >= 3 * ((killed_at - ckpt_step) // LOG_EVERY)
    assert run.data.metrics["resume/overlap_max_abs_diff"] == 0.0

    # The same fit, never interrupted, in this process: identical history and final metrics.
    from siren_inr.cli.config import job_from_config
    from siren_inr.jobs.train import run_train_job

    reference_dir = tmp_path / "reference"
    job = job_from_config(_compose(settings))
    job.output_dir, job.tracking_uri = reference_dir, store_uri(reference_dir)
    reference = run_train_job(job)
    ref_client = mlflow.MlflowClient(store_uri(reference_dir))
    assert _history(ref_client, reference.run_id) == after
    for key in ("final/psnr", "final/ssim", "final/mse"):
        assert run.data.metrics[key] == pytest.approx(reference.final[key.split("/")[1]], rel=1e-6, abs=1e-9), key
    assert after["train/loss"][-1][1] < 0.5 * after["train/loss"][0][1]  # it did fit

    with pytest.raises(SirenInrError, match="FINISHED; there is nothing to resume"):
        find_resume_point(uri, run_id)


def test_resume_refuses_overrides_that_change_the_fit():
    from types import SimpleNamespace

    from siren_inr.jobs.rerun import resume_job

    current = SimpleNamespace(tracking_uri=None, fit=SimpleNamespace(progress="none"), output_dir=None)
    with pytest.raises(SirenInrError, match="remove optim.lr=1e-3"):
        resume_job("abc", current, ["resume=abc", "optim.lr=1e-3", "progress=none"], make_job=None)
