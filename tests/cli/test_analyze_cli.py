"""`siren-inr analyze`: overrides, the real console script on a store with two models, exit codes, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from siren_inr.cli.analyze import compose_config, main, split_overrides
from siren_inr.fit.settings import FitSettings
from siren_inr.jobs.train import DataSpec, TrainJob, run_train_job
from testkit import console_script, free_port


def test_split_overrides_keeps_filters_and_ids_verbatim():
    overrides, raw = split_overrides([
        "filter=params.`model.name` = 'siren'", "runs=[0123,abc]", "sweep=2026-01-01_10-00", "out=x",
        "experiment_name=2024", "max_runs=5", "title=\"A (b), c\""])
    assert overrides == ["max_runs=5"]
    assert raw == {"filter": "params.`model.name` = 'siren'", "runs": ["0123", "abc"],
                   "sweep": "2026-01-01_10-00", "out": "x", "experiment_name": "2024", "title": "A (b), c"}
    assert split_overrides(["runs=abc"])[1]["runs"] == ["abc"]
    assert split_overrides(["filter=null"])[1]["filter"] is None


def test_compose_config_defaults_and_overrides():
    cfg = compose_config(["max_runs=7", "log_to_mlflow=false", "tracking.uri=sqlite:///x.db", "runs=[a,b]"])
    assert cfg["max_runs"] == 7 and cfg["log_to_mlflow"] is False
    assert cfg["tracking"]["uri"] == "sqlite:///x.db" and cfg["runs"] == ["a", "b"]
    assert cfg["out"] == "analysis" and cfg["experiment_name"] is None


@pytest.fixture(scope="module")
def two_model_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-store")
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    ids = {}
    for model in ("siren", "relu"):
        hparams = {"hidden_features": 16, "hidden_layers": 1}
        job = TrainJob(model_name=model, model_hparams=hparams, data=DataSpec(sidelength=16),
                       fit=FitSettings(num_epochs=4, lr=1e-3, log_every_n_steps=2, progress="none",
                                       accelerator="cpu"),
                       experiment_name="two", tracking_uri=uri, output_dir=root / model,
                       config={"model": {"name": model, **hparams}, "seed": 0})
        ids[model] = run_train_job(job).run_id
    return root, uri, ids


@pytest.mark.slow
def test_console_script_on_two_models(two_model_store, tmp_path):
    root, uri, ids = two_model_store
    env = dict(os.environ)
    result = subprocess.run([console_script(), "analyze", "experiment_name=two", "out=report", f"tracking.uri={uri}"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "report"
    assert "report.md" in result.stdout
    for name in ("report.md", "comparison.csv", "comparison.md", "history_overlay.png", "gallery.png",
                 "benford_summary.csv"):
        assert (out / name).is_file()
    for run_id in ids.values():
        data = json.loads((out / "runs" / run_id / "benford.json").read_text())
        assert set(data["pixels"]["pooled"]) >= {"ground_truth", "prediction", "js_gt_prediction_bits"}
        assert data["dct"]["pooled"]["ground_truth"]["conformity"] in {"close", "acceptable", "marginal",
                                                                       "nonconformity"}
    client = mlflow.MlflowClient(uri)
    assert not client.search_runs([client.get_experiment_by_name("two").experiment_id],
                                  "tags.run_kind = 'analysis'")  # never among the fits it compares
    analysis_runs = client.search_runs([client.get_experiment_by_name("two analyses").experiment_id],
                                       "tags.run_kind = 'analysis'")
    assert len(analysis_runs) == 1 and analysis_runs[0].info.run_name == "analysis of experiment two"
    assert f"analysis run {analysis_runs[0].info.run_id} (experiment 'two analyses')" in result.stdout
    assert "report.md" in {a.path for a in client.list_artifacts(analysis_runs[0].info.run_id)}
    assert "model" in (out / "comparison.md").read_text().splitlines()[0]


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["experiment_name=nope"], "experiment_name='nope' does not exist"),
    (["filter=params.model = 'siren'"], "need backticks"),
    (["bogus=1"], "bogus"),
    (["max_runs=0", "experiment_name=two"], "max_runs=0"),
    (["max_runs=x"], "override max_runs=x; Value 'x' of type 'str' could not be converted to Integer"),
    (["log_to_mlflow=maybe"], "override log_to_mlflow=maybe; Value 'maybe' is not a valid bool"),
])
def test_errors_are_one_line_and_exit_2(two_model_store, tmp_path, capsys, monkeypatch, args, message):
    _, uri, _ = two_model_store
    monkeypatch.chdir(tmp_path)
    code = main([f"tracking.uri={uri}", "log_to_mlflow=false", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.slow
def test_partial_selection_warns_and_succeeds(two_model_store, tmp_path, capsys, monkeypatch):
    _, uri, ids = two_model_store
    monkeypatch.chdir(tmp_path)
    code = main([f"runs=[{ids['siren']},{'e' * 32}]", f"tracking.uri={uri}", "log_to_mlflow=false", "out=o"])
    captured = capsys.readouterr()
    assert code == 0
    assert f"warning: run {'e' * 32} not analysed: no such run" in captured.err
    assert (tmp_path / "o" / "report.md").is_file()


def test_help_lists_settings(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "experiment_name=null" in text and "filter=null" in text and "max_runs=1000" in text
    assert "tracking.uri=null" in text and "MLflow search filter" in text  # each setting with its declaration's words


@pytest.mark.slow
def test_dispatcher_knows_analyze():
    result = subprocess.run([sys.executable, "-m", "siren_inr.cli.main", "analyze", "--help"],
                            capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent)
    assert result.returncode == 0 and "usage: siren-inr analyze" in result.stdout


@pytest.mark.slow
def test_logged_html_report_carries_its_figures_through_mlflow_server(two_model_store, tmp_path):
    """The report MLflow's artifact viewer shows, fetched as the UI fetches it from a real `mlflow server`."""
    import base64
    import re
    import time
    import urllib.request

    from siren_inr.analysis.pipeline import Selection, analyze
    from siren_inr.tracking.store import artifact_root_for

    root, uri, _ = two_model_store
    first = analyze(Selection(experiment_name="two"), tmp_path / "out", tracking_uri=uri)
    again = analyze(Selection(experiment_name="two"), tmp_path / "out", tracking_uri=uri)
    client = mlflow.MlflowClient(uri)
    # A re-run is a second run that says so, not a second run of the same name.
    numbers = []
    for outcome in (first, again):
        name = client.get_run(outcome.analysis_run_id).info.run_name
        match = re.fullmatch(r"analysis of experiment two(?: \((\d+)\))?", name)
        assert match, name
        numbers.append(int(match.group(1) or 1))
    assert numbers[1] == numbers[0] + 1
    note = client.get_run(again.analysis_run_id).data.tags["mlflow.note.content"]
    assert note.startswith("analysis of experiment two: 2 run(s), best final PSNR ") and "\n" not in note
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
                               "--default-artifact-root", artifact_root_for(uri), "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "mlflow server did not start"
                time.sleep(0.5)
        # The artifact viewer's own request: get-artifact on the analysis run.
        url = f"{base}/get-artifact?path=report.html&run_uuid={again.analysis_run_id}"
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
    markdown = (tmp_path / "out" / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)
    embedded = [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]
    assert "history_overlay.png" in linked and "gallery.png" in linked
    assert embedded == [(tmp_path / "out" / name).read_bytes() for name in linked]
