"""Reading runs back: selection, missing things as None, rejected filters, no store created by a query."""

from __future__ import annotations

import pytest

from siren_inr.errors import SirenInrError
from siren_inr.tracking import queries
from siren_inr.tracking.run import tracked_run
from siren_inr.tracking.store import artifact_root_for, ensure_store, resolve_tracking_uri


@pytest.fixture
def store(tmp_path):
    uri = resolve_tracking_uri(None, root=tmp_path)
    ensure_store(uri)
    ids = []
    for model in ("siren", "relu"):
        with tracked_run(uri, "zoo", run_name=model, params={"model.name": model}, tags={"sweep_id": "s1"},
                         artifact_location=artifact_root_for(uri)) as run:
            run.log_metrics({"final/psnr": 30.0 if model == "siren" else 20.0})
            (tmp_path / "h.csv").write_text("epoch\n0\n")
            run.log_artifact(tmp_path / "h.csv", "history")
            ids.append(run.run_id)
    return uri, ids, tmp_path


@pytest.mark.slow
def test_search_by_filter_and_newest_first(store):
    uri, ids, _ = store
    runs = queries.search_runs(uri, ["zoo"])
    assert [r.run_id for r in runs] == ids[::-1]
    siren = queries.search_runs(uri, ["zoo"], filter_string="params.`model.name` = 'siren'")
    assert [r.run_name for r in siren] == ["siren"] and siren[0].metrics["final/psnr"] == 30.0
    assert siren[0].experiment_name == "zoo" and siren[0].status == "FINISHED"
    assert queries.search_runs(uri, ["nope"]) == []
    with pytest.raises(SirenInrError, match="filter="):
        queries.search_runs(uri, ["zoo"], filter_string="params.x ==== 3")


@pytest.mark.slow
def test_missing_things_are_none(store, tmp_path):
    uri, ids, _ = store
    assert queries.get_run(uri, "0" * 32) is None
    assert queries.get_run(uri, ids[0]).params == {"model.name": "siren"}
    assert queries.get_experiment(uri, "nope") is None and queries.list_experiment_names(uri) == ["zoo"]
    assert queries.download_artifact(uri, ids[0], "history/missing.csv", tmp_path / "d") is None
    local = queries.download_artifact(uri, ids[0], "history/h.csv", tmp_path / "d")
    assert open(local).read() == "epoch\n0\n"
    assert queries.metric_history(uri, ids[0], "final/psnr") == [(0, 30.0)]


def test_queries_never_create_a_store(tmp_path):
    uri = resolve_tracking_uri(None, root=tmp_path / "empty")
    assert queries.search_runs(uri) == [] and queries.get_run(uri, "x") is None
    assert not (tmp_path / "empty").exists()


@pytest.mark.slow
def test_analysis_run_holds_its_files(store):
    uri, ids, folder = store
    (folder / "report.md").write_text("# report\n")
    run_id = queries.log_analysis_run(uri, "zoo", run_name="analysis", tags={"kind": "analysis"},
                                      params={"n": 2}, files={"": [folder / "report.md"]})
    info = queries.get_run(uri, run_id)
    assert info.status == "FINISHED" and info.tags["kind"] == "analysis"
    queries.log_files(uri, ids[0], [folder / "report.md"], "analysis")
    assert queries.download_artifact(uri, ids[0], "analysis/report.md", folder / "x") is not None
