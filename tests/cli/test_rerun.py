"""`siren-inr rerun`: a CPU run refitted from its record matches bit for bit; differences are detected."""

from __future__ import annotations

import math

import mlflow
import numpy as np
import pytest
from mlflow.entities import Metric
from PIL import Image

from siren_inr.cli.rerun import main as rerun_main
from siren_inr.jobs.rerun import DIR_ENV
from siren_inr.tracking.rerun import HISTORY_KEYS, Tolerance, compare_runs
from siren_inr.tracking.store import ensure_store
from testkit import run_cli, smooth_image, store_uri


def _history(client, run_id):
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in HISTORY_KEYS}


@pytest.mark.slow
def test_rerun_of_a_cpu_run_is_bit_for_bit_equal_and_warns_about_the_environment(tmp_path, monkeypatch, capsys):
    image = tmp_path / "img.png"
    Image.fromarray((smooth_image(16, channels=3) * 255).round().astype(np.uint8)).save(image)
    train = run_cli(["train", f"data.image={image}", "data.sidelength=null", "model.hidden_features=16",
                     "model.hidden_layers=2", "optim.lr=1e-3", "num_epochs=15", "log_every_n_steps=4", "seed=7",
                     "trainer=cpu", "progress=none"], cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert train.returncode == 0, train.stderr[-3000:]
    uri = store_uri(tmp_path)
    client = mlflow.MlflowClient(uri)
    (original,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    original_id = original.info.run_id
    # Pretend it was recorded elsewhere: another torch and a dirty tree must warn, not refuse.
    client.set_tag(original_id, "versions.torch", "0.0.1-recorded")
    client.set_tag(original_id, "git_dirty", "true")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DIR_ENV, str(tmp_path / "rerun_out"))
    code = rerun_main([original_id, "progress=none"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "MATCHES (bit for bit)" in out
    assert "warning: the run was recorded with other package versions: torch 0.0.1-recorded ->" in err
    assert "uncommitted changes" in err

    reruns = client.search_runs([original.info.experiment_id], filter_string=f"tags.rerun_of = '{original_id}'")
    assert len(reruns) == 1
    rerun = reruns[0]
    assert rerun.info.status == "FINISHED" and rerun.info.run_id != original_id
    assert rerun.data.tags["rerun_match"] == "exact" and rerun.data.tags["rerun_history_match"] == "true"
    assert "torch 0.0.1-recorded" in rerun.data.tags["rerun_warnings"]
    # Independently of the command's own verdict: every point of every history, and the finals, are equal.
    a, b = _history(client, original_id), _history(client, rerun.info.run_id)
    assert [s for s, _ in a["train/psnr"]] == [0, 4, 8, 12, 15]
    assert a == b
    for key in ("final/psnr", "final/ssim", "final/mse"):
        assert original.data.metrics[key] == rerun.data.metrics[key], key
    assert rerun.data.metrics["rerun/max_abs_diff/final/psnr"] == 0.0
    assert (tmp_path / "rerun_out" / "history" / "history.csv").is_file()


def _run_with(client, experiment_id, points: dict[str, list[tuple[int, float]]], finals: dict[str, float]) -> str:
    run_id = client.create_run(experiment_id).info.run_id
    metrics = [Metric(k, v, 0, s) for k, pts in points.items() for s, v in pts]
    metrics += [Metric(k, v, 0, 0) for k, v in finals.items()]
    client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id)
    return run_id


@pytest.mark.slow
def test_compare_runs_exact_tolerance_and_missing_steps(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    ensure_store(uri)
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment("x")
    base = {"train/loss": [(0, 0.3), (5, 0.2)], "train/psnr": [(0, 10.0), (5, 12.0)],
            "train/ssim": [(0, 0.1), (5, 0.2)]}
    finals = {"final/psnr": 12.5, "final/ssim": 0.25, "final/mse": 0.05}
    original = _run_with(client, experiment_id, base, finals)
    same = _run_with(client, experiment_id, base, finals)
    nudged = dict(base, **{"train/psnr": [(0, 10.0), (5, math.nextafter(12.0, 13.0))]})
    one_ulp = _run_with(client, experiment_id, nudged, finals)
    gap = _run_with(client, experiment_id, dict(base, **{"train/loss": [(0, 0.3)]}), finals)
    far = _run_with(client, experiment_id, base, dict(finals, **{"final/psnr": 12.6}))

    assert compare_runs(uri, original, same, exact=True).match
    exact = compare_runs(uri, original, one_ulp, exact=True)
    assert not exact.history_match and exact.final_match and "train/psnr: 1 of 2 points differ" in exact.problems[0]
    assert compare_runs(uri, original, one_ulp, exact=False).match  # one ulp is within any tolerance
    missing = compare_runs(uri, original, gap, exact=False)
    assert not missing.history_match and "steps differ" in missing.problems[0]
    assert not compare_runs(uri, original, far, exact=False, tol=Tolerance(psnr_db=0.05)).final_match
    assert compare_runs(uri, original, far, exact=False, tol=Tolerance(psnr_db=0.2)).final_match


@pytest.mark.parametrize("argv, message", [
    ([], None), (["a", "b"], "exactly one run id"), (["abc", "colour=red"], "unknown setting 'colour'"),
    (["abc", "rtol=-1"], "rtol='-1'")])
def test_bad_arguments_are_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = rerun_main(argv)
    err = capsys.readouterr().err
    assert code == 2
    if message:
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_unknown_run_id_names_the_store(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert rerun_main(["0123456789abcdef"]) == 2
    err = capsys.readouterr().err
    assert "run '0123456789abcdef' is not in the store" in err and "tracking.uri" in err
