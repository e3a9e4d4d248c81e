"""Runs that are not fits: rate-distortion runs carry run_kind (and the old `kind` tag), and `analyze`, `rerun` and
`resume` skip or refuse them, whether a store recorded them with run_kind or, before it, with `kind` only."""

from __future__ import annotations

import pytest
import yaml

from siren_inr.analysis.pipeline import Selection, select_runs
from siren_inr.errors import SirenInrError
from siren_inr.names import (CONFIG_FILE, CONFIG_FOLDER, FINAL_PSNR, LEGACY_KIND_TAG, RD_POINT_KIND, RD_STUDY_KIND,
                             RUN_KIND_TAG, SWEEP_KIND)
from siren_inr.tracking.rerun import load_run_record
from siren_inr.tracking.run import is_fit, rd_run_tags, run_kind, tracked_run
from siren_inr.tracking.store import artifact_root_for, ensure_store, resolve_tracking_uri


def test_run_kind_reads_run_kind_and_the_old_kind_tag_of_rd_runs():
    assert rd_run_tags(is_point=False) == {RUN_KIND_TAG: RD_STUDY_KIND, LEGACY_KIND_TAG: RD_STUDY_KIND}
    assert rd_run_tags(is_point=True) == {RUN_KIND_TAG: RD_POINT_KIND, LEGACY_KIND_TAG: RD_POINT_KIND}
    assert run_kind({LEGACY_KIND_TAG: RD_STUDY_KIND}) == RD_STUDY_KIND  # a store written before run_kind
    assert run_kind({RUN_KIND_TAG: SWEEP_KIND}) == SWEEP_KIND
    assert run_kind({LEGACY_KIND_TAG: "analysis"}) is None  # a user's own `kind` tag says nothing about the run
    assert run_kind({}) is None and is_fit({}) and is_fit({LEGACY_KIND_TAG: "whatever"})
    assert not is_fit({LEGACY_KIND_TAG: RD_POINT_KIND}) and not is_fit(rd_run_tags(is_point=False))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A fit, an rd study recorded the old way (kind only) and one the new way, with a point run under it. The rd
    runs hold a train-like config/ artifact, so only their kind tells them from fits."""
    root = tmp_path_factory.mktemp("kinds")
    uri = resolve_tracking_uri(None, root=root)
    ensure_store(uri)
    config = root / CONFIG_FOLDER / CONFIG_FILE
    config.parent.mkdir()
    config.write_text(yaml.safe_dump({"model": {"name": "siren"}, "seed": 0}))
    ids = {}
    for name, tags in (("fit", {}), ("old-rd", {LEGACY_KIND_TAG: RD_STUDY_KIND}), ("new-rd", rd_run_tags(False))):
        with tracked_run(uri, "zoo", run_name=name, tags=tags, artifact_location=artifact_root_for(uri)) as run:
            run.log_metrics({FINAL_PSNR: 25.0})
            run.log_artifact(config, CONFIG_FOLDER)
            ids[name] = run.run_id
    with tracked_run(uri, "zoo", run_name="point", tags=rd_run_tags(True), parent_run_id=ids["new-rd"],
                     artifact_location=artifact_root_for(uri)) as run:
        run.log_metrics({FINAL_PSNR: 25.0})
        ids["point"] = run.run_id
    return uri, ids


@pytest.mark.slow
def test_analyze_skips_rd_runs_old_and_new(store):
    uri, ids = store
    runs, skipped = select_runs(Selection(run_ids=[ids["old-rd"], ids["fit"], ids["new-rd"], ids["point"]]), uri, "zoo")
    assert [r.run_id for r in runs] == [ids["fit"]]
    assert skipped == [(ids["old-rd"], f"is a {RD_STUDY_KIND} run, not a fit"),
                       (ids["new-rd"], f"is a {RD_STUDY_KIND} run, not a fit"),
                       (ids["point"], f"is a {RD_POINT_KIND} run, not a fit")]
    runs, _ = select_runs(Selection(experiment_name="zoo"), uri, "zoo")
    assert [r.run_id for r in runs] == [ids["fit"]]
    with pytest.raises(SirenInrError, match=f"none of the runs given can be analysed: {ids['old-rd']} is a rd-study"):
        select_runs(Selection(run_ids=[ids["old-rd"]]), uri, "zoo")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["old-rd", "new-rd"])
def test_rerun_and_resume_refuse_an_rd_run_with_one_clear_line(store, name):
    uri, ids = store
    assert load_run_record(uri, ids["fit"]).config["model"] == {"name": "siren"}
    with pytest.raises(SirenInrError, match=f"run '{ids[name]}' is a rd-study run, not a fit; only fits can be rerun"):
        load_run_record(uri, ids[name])
