"""The tracking layer: store URIs, run lifecycle statuses, params, metric points."""

from __future__ import annotations

import mlflow
import pytest

from siren_inr.errors import SirenInrError
from siren_inr.tracking.provenance import package_versions, provenance_tags
from siren_inr.tracking.run import flatten, tracked_run
from siren_inr.tracking.store import artifact_root_for, ensure_store, resolve_tracking_uri


def test_default_store_is_sqlite_under_mlruns(tmp_path):
    uri = resolve_tracking_uri(None, root=tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert uri.startswith("sqlite:////")  # absolute paths take four slashes
    assert artifact_root_for(uri) == (tmp_path / "mlruns" / "artifacts").resolve().as_uri()


def test_relative_sqlite_made_absolute_and_servers_kept(tmp_path):
    assert resolve_tracking_uri("sqlite:///x/y.db", root=tmp_path) == f"sqlite:///{tmp_path.resolve()}/x/y.db"
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


@pytest.mark.parametrize("uri", ["./mlruns", "file:///tmp/mlruns", "ftp://x"])
def test_file_stores_and_unknown_schemes_are_refused(uri):
    with pytest.raises(SirenInrError, match="tracking.uri"):
        resolve_tracking_uri(uri)


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2]}) == {"a.b": 1, "a.c.d": None, "e": [1, 2]}


def _store(tmp_path):
    uri = resolve_tracking_uri(None, root=tmp_path)
    ensure_store(uri)
    return uri, mlflow.MlflowClient(uri)


@pytest.mark.slow
def test_successful_run_is_finished_with_params_metrics_tags(tmp_path):
    uri, client = _store(tmp_path)
    with tracked_run(uri, "exp", run_name="r", tags={"seed": 1}, params={"model.name": "siren", "x": None},
                     artifact_location=artifact_root_for(uri)) as run:
        logger = run.lightning_logger()
        for step in range(3):
            logger.log_metrics({"train/psnr": 10.0 + step}, step=step * 5)
        (tmp_path / "a.txt").write_text("hi")
        run.log_artifact(tmp_path / "a.txt", "config")
    record = client.get_run(run.run_id)
    assert record.info.status == "FINISHED"
    assert record.data.params == {"model.name": "siren", "x": "None"}
    assert record.data.tags["seed"] == "1"
    history = client.get_metric_history(run.run_id, "train/psnr")
    assert [(m.step, m.value) for m in history] == [(0, 10.0), (5, 11.0), (10, 12.0)]
    assert [a.path for a in client.list_artifacts(run.run_id, "config")] == ["config/a.txt"]
    assert record.info.artifact_uri.startswith((tmp_path / "mlruns" / "artifacts").resolve().as_uri())


@pytest.mark.slow
def test_error_marks_failed_and_interrupt_marks_killed(tmp_path):
    uri, client = _store(tmp_path)
    with pytest.raises(ValueError):
        with tracked_run(uri, "exp") as failed:
            raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(uri, "exp") as killed:
            raise KeyboardInterrupt
    assert client.get_run(failed.run_id).info.status == "FAILED"
    assert client.get_run(killed.run_id).info.status == "KILLED"


@pytest.mark.slow
def test_sigterm_caught_inside_a_nested_run_ends_both_runs_killed(tmp_path):
    # A study's parent run around a point run whose fit turns the interrupt into SystemExit (as Lightning
    # does): the signal reached only the inner run's handler, yet neither run may end FAILED or RUNNING.
    import os
    import signal
    import time

    uri, client = _store(tmp_path)
    with pytest.raises(SystemExit):
        with tracked_run(uri, "exp", run_name="study") as outer:
            with tracked_run(uri, "exp", run_name="point", parent_run_id=outer.run_id) as inner:
                try:
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(5)
                except KeyboardInterrupt:
                    raise SystemExit(1) from None
    assert client.get_run(inner.run_id).info.status == "KILLED"
    assert client.get_run(outer.run_id).info.status == "KILLED"


@pytest.mark.slow
def test_a_repeated_signal_cannot_leave_a_run_running(tmp_path):
    # `kill` twice (or Ctrl-C twice): the second signal arrives while the fit shuts down; it must not cut
    # that short before the runs are marked KILLED. Ctrl-C (SIGINT) is handled the same way.
    import os
    import signal
    import time

    uri, client = _store(tmp_path)
    for signum in (signal.SIGTERM, signal.SIGINT):
        with pytest.raises(SystemExit):
            with tracked_run(uri, "exp", run_name="study") as outer:
                with tracked_run(uri, "exp", run_name="point", parent_run_id=outer.run_id) as inner:
                    try:
                        os.kill(os.getpid(), signum)
                        time.sleep(5)
                    except KeyboardInterrupt:
                        os.kill(os.getpid(), signum)  # the repeat, during the shutdown: recorded, not raised
                        raise SystemExit(1) from None
        assert client.get_run(inner.run_id).info.status == "KILLED", signum
        assert client.get_run(outer.run_id).info.status == "KILLED", signum
    # Once the runs have ended, the next run's first signal interrupts it again.
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(uri, "exp") as later:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert client.get_run(later.run_id).info.status == "KILLED"


def test_provenance_tags():
    tags = provenance_tags("cpu")
    assert tags["device"] == "cpu" and tags["host"]
    assert tags["versions.torch"] == package_versions()["torch"] != "absent"
    assert len(tags["git_commit"]) in (40, len("unknown"))
