"""analyze() on a real SQLite MLflow store: selection, bad input, outputs and logging back to MLflow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from siren_inr.analysis.pipeline import ANALYSIS_KIND, RUN_KIND_TAG, Selection, analyze, select_runs
from siren_inr.errors import SirenInrError
from siren_inr.fit.settings import FitSettings
from siren_inr.metrics.benford import benford_report, report_to_dict
from siren_inr.jobs.train import DataSpec, TrainJob, run_train_job
from siren_inr.tracking.run import tracked_run

pytestmark = pytest.mark.slow  # end-to-end: every test here runs the CLI, processes or a store


def _fit(root: Path, uri: str, model: str, seed: int, experiment: str = "zoo", tags: dict | None = None) -> str:
    hparams = {"hidden_features": 16, "hidden_layers": 1}
    job = TrainJob(model_name=model, model_hparams=hparams, data=DataSpec(sidelength=16),
                   fit=FitSettings(num_epochs=4, lr=1e-3, log_every_n_steps=2, progress="none", accelerator="cpu"),
                   seed=seed, experiment_name=experiment, tracking_uri=uri, run_name=f"{model}-{seed}",
                   output_dir=root / f"job-{model}-{seed}-{experiment}",
                   config={"model": {"name": model, **hparams}, "seed": seed, "optim": {"lr": 1e-3},
                           "tracking": {"uri": uri}},
                   tags=tags or {})
    return run_train_job(job).run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two models x two seeds (one sweep), a run of another experiment, a FAILED, a RUNNING and an empty run."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root}/mlruns/mlflow.db"
    fits = {(m, s): _fit(root, uri, m, s, tags={"sweep_id": "sweep-a"}) for m in ("siren", "relu") for s in (0, 1)}
    other = _fit(root, uri, "tanh", 0, experiment="other")
    with pytest.raises(RuntimeError):
        with tracked_run(uri, "zoo", run_name="crashed", params={"model.name": "siren"}):
            raise RuntimeError("fit crashed")
    client = mlflow.MlflowClient(uri)
    failed = client.search_runs([client.get_experiment_by_name("zoo").experiment_id],
                                "attributes.run_name = 'crashed'")[0].info.run_id
    running = client.create_run(client.get_experiment_by_name("zoo").experiment_id, run_name="still-running")
    with tracked_run(uri, "zoo", run_name="no-artifacts", params={"model.name": "siren"}) as empty:
        empty.log_metrics({"final/psnr": 20.0})
    return {"root": root, "uri": uri, "fits": fits, "other": other, "failed": failed,
            "running": running.info.run_id, "empty": empty.run_id, "client": client}


@pytest.fixture(scope="module")
def zoo_analysis(store, tmp_path_factory):
    """One analysis of the whole experiment, logged back to the store."""
    out = tmp_path_factory.mktemp("analysis") / "out"
    return out, analyze(Selection(experiment_name="zoo"), out, tracking_uri=store["uri"])


def test_experiment_selection_analyses_fits_and_names_the_rest(store, zoo_analysis, tmp_path):
    out, outcome = zoo_analysis
    fits = store["fits"]
    assert sorted(outcome.outputs.run_ids) == sorted(fits.values())
    skipped = dict(outcome.skipped)
    assert "FAILED" in skipped[store["failed"]]
    assert "RUNNING" in skipped[store["running"]]
    assert "images/ground_truth.png" in skipped[store["empty"]]
    assert outcome.outputs.settings == ["model.name", "seed"]
    report = (out / "report.md").read_text()
    for run_id in (store["failed"], store["running"], store["empty"]):
        assert run_id in report

    # The comparison agrees with what the fits logged.
    client = store["client"]
    table = pd.read_csv(out / "comparison.csv")
    for _, row in table.iterrows():
        run = client.get_run(row["run_id"])
        assert row["psnr_db"] == pytest.approx(run.data.metrics["final/psnr"])
        assert row["num_parameters"] == int(run.data.tags["num_params"])
    grouped = pd.read_csv(out / "grouped.csv")
    assert sorted(grouped["model.name"]) == ["relu", "siren"] and set(grouped["runs"]) == {2}

    # Benford numbers are those of the images the runs stored.
    run_id = fits[("siren", 0)]
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="images",
                                                      dst_path=str(tmp_path / "dl"), tracking_uri=store["uri"]))
    gt = np.asarray(Image.open(folder / "ground_truth.png"))
    pred = np.asarray(Image.open(folder / "reconstruction.png"))
    written = json.loads((out / "runs" / run_id / "benford.json").read_text())
    assert written == json.loads(json.dumps(report_to_dict(benford_report(gt, pred))))


def test_results_are_logged_back(store, zoo_analysis):
    _, outcome = zoo_analysis
    client = store["client"]
    run_id = store["fits"][("relu", 1)]
    logged = sorted(a.path for a in client.list_artifacts(run_id, "analysis"))
    assert logged == ["analysis/benford.json", "analysis/benford.png", "analysis/history.png"]
    assert client.get_run(run_id).info.status == "FINISHED"
    analysis = client.get_run(outcome.analysis_run_id)
    assert analysis.data.tags[RUN_KIND_TAG] == ANALYSIS_KIND
    assert analysis.info.status == "FINISHED"
    assert set(analysis.data.tags["analysed_runs"].split(",")) == set(store["fits"].values())
    top = {a.path for a in client.list_artifacts(outcome.analysis_run_id)}
    assert {"report.md", "comparison.csv", "gallery.png", "history_overlay.png"} <= top
    # Filed apart from the fits it compares, named after its selection.
    assert outcome.analysis_experiment == "zoo analyses"
    assert client.get_experiment(analysis.info.experiment_id).name == "zoo analyses"
    assert analysis.info.run_name == "analysis of experiment zoo"
    # The logged report.md links every picture through the server's artifact route, to a file the run holds.
    logged = Path(mlflow.artifacts.download_artifacts(run_id=outcome.analysis_run_id, artifact_path="report.md",
                                                      tracking_uri=store["uri"])).read_text()
    images = re.findall(r"!\[[^\]]*\]\(get-artifact\?path=([^&)]+)&run_uuid=([0-9a-f]+)\)", logged)
    assert len(images) == len(re.findall(r"!\[", logged)) >= 3
    for path, run in images:
        assert run == outcome.analysis_run_id
        folder = str(Path(path).parent) if "/" in path else None
        assert path in {a.path for a in client.list_artifacts(run, folder)}
    # Selecting the experiment again never picks the analysis run itself.
    runs, _ = select_runs(Selection(experiment_name="zoo"), store["uri"], "zoo")
    assert outcome.analysis_run_id not in [r.run_id for r in runs]


@pytest.mark.parametrize("selection, expected", [
    (Selection(sweep_id="sweep-a"), "fits"),
    (Selection(filter_string="params.`model.name` = 'siren'", experiment_name="zoo"), "siren"),
    (Selection(filter_string="tags.model = 'relu'"), "relu"),
])
def test_sweep_and_filter_selections(store, selection, expected):
    runs, skipped = select_runs(selection, store["uri"], "zoo")
    fits = store["fits"]
    wanted = list(fits.values()) if expected == "fits" else [v for (m, _), v in fits.items() if m == expected]
    if expected == "siren":  # the crashed and the empty run were logged with model.name = siren as well
        wanted += [store["failed"], store["empty"]]
    assert sorted(r.run_id for r in runs) == sorted(wanted) and skipped == []


def test_run_ids_across_experiments_and_unknown_ids(store):
    ids = [store["fits"][("siren", 1)], store["other"], "0" * 32]
    runs, skipped = select_runs(Selection(run_ids=ids), store["uri"], "zoo")
    assert [r.run_id for r in runs] == ids[:2]
    assert [r.experiment_name for r in runs] == ["zoo", "other"]
    assert dict(skipped)["0" * 32].startswith("no such run")
    runs, skipped = select_runs(Selection(run_ids=ids, experiment_name="zoo"), store["uri"], "zoo")
    assert [r.run_id for r in runs] == ids[:1] and "belongs to experiment 'other'" in dict(skipped)[ids[1]]


def test_latest_run_of_default_experiment(store, tmp_path):
    runs, _ = select_runs(Selection(), store["uri"], "zoo")
    # The newest run of zoo that is a fit (the empty one was created last).
    assert [r.run_id for r in runs] == [store["empty"]]
    outcome = analyze(Selection(), tmp_path, tracking_uri=store["uri"], log_to_mlflow=False,
                      default_experiment="other")
    assert outcome.outputs.run_ids == [store["other"]]


@pytest.mark.parametrize("selection, message", [
    (Selection(experiment_name="nope"), "experiment_name='nope' does not exist"),
    (Selection(sweep_id="no-such-sweep"), "no runs match sweep `no-such-sweep`"),
    (Selection(filter_string="params.model = 'siren'"), "need backticks"),
    (Selection(filter_string="params.seed >>> 1"), "filter"),
    (Selection(run_ids=["f" * 32]), "none of the runs given"),
])
def test_bad_selections_raise_one_clear_error(store, tmp_path, selection, message):
    with pytest.raises(SirenInrError, match=message):
        analyze(selection, tmp_path, tracking_uri=store["uri"], log_to_mlflow=False)


def test_nothing_analysable_names_the_runs(store, tmp_path):
    with pytest.raises(SirenInrError) as err:
        analyze(Selection(run_ids=[store["failed"], store["empty"]]), tmp_path, tracking_uri=store["uri"])
    assert store["failed"] in str(err.value) and store["empty"] in str(err.value)
    assert not (tmp_path / "report.md").exists()


def test_missing_store(tmp_path):
    with pytest.raises(SirenInrError, match="no tracking store"):
        analyze(Selection(), tmp_path, tracking_uri=f"sqlite:///{tmp_path}/none/mlflow.db")


def test_a_store_that_refuses_the_analysis_run_costs_only_a_warning(store, tmp_path, monkeypatch):
    from siren_inr.tracking import queries

    def refuse(*args, **kwargs):
        raise RuntimeError("read-only store")

    monkeypatch.setattr(queries, "log_analysis_run", refuse)
    outcome = analyze(Selection(run_ids=[store["fits"][("siren", 0)]]), tmp_path, tracking_uri=store["uri"])
    assert outcome.analysis_run_id is None and (tmp_path / "report.md").is_file()
    assert any("read-only store" in w for w in outcome.warnings)


def test_analysis_nests_under_the_common_parent_of_its_runs(zoo_records):
    from siren_inr.analysis.pipeline import analysis_home, analysis_run_name

    for record in zoo_records:
        record.tags["mlflow.parentRunId"] = "p" * 32
    assert analysis_home(zoo_records, Selection(sweep_id="s")) == ("zoo", "p" * 32)
    zoo_records[0].tags["mlflow.parentRunId"] = "q" * 32  # two parents: a run of its own experiment
    assert analysis_home(zoo_records, Selection(sweep_id="s")) == ("zoo analyses", None)
    assert analysis_run_name("sweep `1a2b`") == "analysis of sweep 1a2b"
    assert len(analysis_run_name("runs " + ", ".join(["x" * 32] * 9))) == 100


def test_figures_are_saved_at_150_dpi_or_more(zoo_analysis):
    out, outcome = zoo_analysis
    figures = ["gallery.png", "history_overlay.png"] + [
        name for run in outcome.outputs.runs.values() for name in (run.history_plot, run.benford_plot)]
    for name in figures:
        with Image.open(out / name) as image:
            dpi = image.info["dpi"]
            assert min(dpi) >= 149.9, (name, dpi)  # PNG stores dots per metre: 150 dpi reads back as 149.99
