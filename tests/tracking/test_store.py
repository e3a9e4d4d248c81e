"""Opening a store: concurrent creation, half-created and damaged stores, servers, and runs of dead processes."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import mlflow
import pytest

from siren_inr.errors import SirenInrError
from siren_inr.tracking import store as store_module
from siren_inr.tracking.provenance import (BOOT_TAG, HOST_TAG, PID_TAG, START_TAG, process_start_ticks, process_tags,
                                           run_process_alive)
from siren_inr.tracking.run import EXPERIMENT_KIND_TAG, TRAINING_KIND, tracked_run
from siren_inr.tracking.store import mark_dead_runs_killed
from siren_inr.tracking.store import check_store, ensure_store, head_revision, probe_server, store_lock

OPEN = "import sys; from siren_inr.tracking.store import ensure_store; ensure_store(sys.argv[1])"


def _uri(folder) -> str:
    return f"sqlite:///{folder.resolve()}/mlruns/mlflow.db"


def _tables(db) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(2))
def test_three_processes_create_one_fresh_store_at_once(tmp_path, trial):
    uri = _uri(tmp_path)
    processes = [subprocess.Popen([sys.executable, "-c", OPEN, uri], stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    errors = [p.communicate(timeout=900)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], "\n".join(e[-2000:] for e in errors)
    db = tmp_path / "mlruns" / "mlflow.db"
    assert not [t for t in _tables(db) if t.startswith("_alembic_tmp")]
    with sqlite3.connect(db) as connection:
        assert connection.execute("select version_num from alembic_version").fetchall() == [(head_revision(),)]


def test_lock_excludes_a_second_opener_and_times_out_in_one_line(tmp_path, monkeypatch):
    db = tmp_path / "x.db"
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT_SECONDS", 0.3)
    failures = []

    def second():
        try:
            with store_lock(db, "sqlite:///x"):
                pass
        except SirenInrError as err:
            failures.append(str(err))

    with store_lock(db, "sqlite:///x"):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(failures) == 1 and "held" in failures[0] and "sqlite:///x" in failures[0]
    second()  # free again once released
    assert len(failures) == 1


@pytest.mark.slow
def test_half_created_store_without_runs_is_recreated(tmp_path):
    uri = _uri(tmp_path)
    ensure_store(uri)
    db = tmp_path / "mlruns" / "mlflow.db"
    with sqlite3.connect(db) as connection:
        connection.execute("create table _alembic_tmp_latest_metrics (x int)")
        connection.execute("update alembic_version set version_num = 'abc123'")
    ensure_store(uri)
    assert "_alembic_tmp_latest_metrics" not in _tables(db)
    with sqlite3.connect(db) as connection:
        assert connection.execute("select version_num from alembic_version").fetchone()[0] == head_revision()


@pytest.mark.slow
def test_half_created_store_with_runs_is_refused_untouched(tmp_path):
    uri = _uri(tmp_path)
    ensure_store(uri)
    with tracked_run(uri, "e"):
        pass
    db = tmp_path / "mlruns" / "mlflow.db"
    with sqlite3.connect(db) as connection:
        connection.execute("update alembic_version set version_num = 'abc123'")
    before = db.read_bytes()
    with pytest.raises(SirenInrError, match=r"holds 1 run\(s\).*schema abc123.*mlflow db upgrade") as info:
        ensure_store(uri)
    assert uri in str(info.value) and "\n" not in str(info.value)
    assert db.read_bytes() == before


def _user_database(path):
    with sqlite3.connect(path) as connection:
        connection.execute("create table customers (id integer primary key, name text)")
        connection.execute("insert into customers (name) values ('Ada'), ('Grace')")
    return path.read_bytes()


@pytest.mark.parametrize("write", [True, False])
def test_a_sqlite_file_that_is_not_an_mlflow_store_is_refused_untouched(tmp_path, write):
    # Probe case 8: tracking.uri=sqlite:///important.db had its tables dropped; `ui` added 65 tables to it.
    db = tmp_path / "important.db"
    before = _user_database(db)
    with pytest.raises(SirenInrError, match=r"not an MLflow store \(it has the tables customers\).*untouched") as info:
        (ensure_store if write else check_store)(f"sqlite:///{db}")
    assert "\n" not in str(info.value) and str(db) in str(info.value)
    assert db.read_bytes() == before and _tables(db) == {"customers"}


def _older_store(db, revision_steps_back: int = 8):
    """A store made the way an older MLflow made it: the first tables, then migrations up to an older revision."""
    import sqlalchemy
    from alembic import command
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import InitialBase, _get_alembic_config

    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    InitialBase.metadata.create_all(engine)
    config = _get_alembic_config(str(engine.url))
    revisions = [s.revision for s in ScriptDirectory.from_config(config).walk_revisions()]  # newest first
    revision = revisions[revision_steps_back]
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()
    return revision


@pytest.mark.slow
def test_an_older_store_with_an_experiment_and_a_model_but_no_run_is_upgraded_after_a_backup(tmp_path, capfd):
    # Probe case 9: such a store was taken for a half-made one and wiped.
    db = tmp_path / "mlflow.db"
    revision = _older_store(db)
    with sqlite3.connect(db) as connection:
        connection.execute("insert into experiments (experiment_id, name, artifact_location, lifecycle_stage) "
                           "values (7, 'kept', '/tmp/a', 'active')")
        connection.execute("insert into registered_models (name, creation_time, last_updated_time) "
                           "values ('my-model', 1, 1)")
    assert store_module.store_content(db) == {"experiment": 1, "registered model": 1}
    uri = f"sqlite:///{db}"
    ensure_store(uri)
    with sqlite3.connect(db) as connection:
        assert connection.execute("select version_num from alembic_version").fetchone()[0] == head_revision()
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert client.get_experiment_by_name("kept").experiment_id == "7"
    assert [m.name for m in client.search_registered_models()] == ["my-model"]
    backup = tmp_path / f"mlflow.db.before-upgrade-{revision}"
    with sqlite3.connect(backup) as connection:  # the copy is the store as it was
        assert connection.execute("select version_num from alembic_version").fetchone()[0] == revision
        assert connection.execute("select name from registered_models").fetchall() == [("my-model",)]
    assert f"upgraded from MLflow schema {revision}" in capfd.readouterr().err


@pytest.mark.slow
def test_an_older_store_is_upgraded_when_the_ui_opens_it_never_by_mlflow_without_a_copy(tmp_path):
    db = tmp_path / "mlflow.db"
    revision = _older_store(db)
    with sqlite3.connect(db) as connection:
        connection.execute("insert into experiments (experiment_id, name, artifact_location, lifecycle_stage) "
                           "values (3, 'kept', '/tmp/a', 'active')")
    check_store(f"sqlite:///{db}", write=False)
    assert (tmp_path / f"mlflow.db.before-upgrade-{revision}").exists()
    assert mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").get_experiment_by_name("kept") is not None


@pytest.mark.slow
def test_a_new_store_shows_no_default_experiment(tmp_path):
    uri = _uri(tmp_path)
    ensure_store(uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert client.search_experiments() == []
    assert client.get_experiment("0").lifecycle_stage == "deleted"  # restorable, and MLflow does not recreate it
    ensure_store(uri)
    assert client.search_experiments() == []


def test_damaged_missing_and_folder_stores_are_one_line(tmp_path):
    db = tmp_path / "mlruns" / "mlflow.db"
    with pytest.raises(SirenInrError, match="no tracking store"):
        check_store(_uri(tmp_path))
    check_store(_uri(tmp_path), missing_ok=True)  # the caller explains a missing store itself
    assert not db.parent.exists()  # checking never creates
    db.parent.mkdir()
    db.write_bytes(b"garbage" * 50)
    for opener in (ensure_store, check_store):
        with pytest.raises(SirenInrError, match="not an SQLite database"):
            opener(_uri(tmp_path))
    assert db.read_bytes() == b"garbage" * 50
    db.unlink()
    db.mkdir()
    with pytest.raises(SirenInrError, match="is a folder"):
        ensure_store(_uri(tmp_path))
    with pytest.raises(SirenInrError, match="cannot create folder /proc/nope"):
        ensure_store("sqlite:////proc/nope/x.db")


def test_absent_server_fails_within_seconds_naming_the_uri():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(SirenInrError, match=f"tracking.uri='http://127.0.0.1:{port}': no MLflow server answers"):
        probe_server(f"http://127.0.0.1:{port}")
    with pytest.raises(SirenInrError, match="no MLflow server answers"):
        ensure_store(f"http://127.0.0.1:{port}")
    assert time.monotonic() - started < 15
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] and int(os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"]) <= 30


def test_process_liveness():
    mine = process_tags()
    assert mine[PID_TAG] == str(os.getpid()) and mine[HOST_TAG] == socket.gethostname()
    assert mine[START_TAG] == str(process_start_ticks(os.getpid()))
    assert run_process_alive(mine) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped
    assert run_process_alive({**mine, PID_TAG: str(child.pid), START_TAG: ""}) is False
    assert run_process_alive({**mine, START_TAG: str(int(mine[START_TAG]) + 1)}) is False  # pid reused
    assert run_process_alive({**mine, BOOT_TAG: "another-boot"}) is False
    assert run_process_alive({**mine, HOST_TAG: "elsewhere"}) is None
    assert run_process_alive({}) is None


@pytest.mark.slow
def test_running_runs_of_dead_processes_are_marked_killed(tmp_path):
    uri = _uri(tmp_path)
    ensure_store(uri)
    client = mlflow.MlflowClient(uri)
    with tracked_run(uri, "e", run_name="alive") as alive:
        experiment_id = alive.experiment_id
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        dead = client.create_run(experiment_id, run_name="dead", tags={**process_tags(), PID_TAG: str(child.pid)})
        elsewhere = client.create_run(experiment_id, run_name="elsewhere",
                                      tags={**process_tags(), HOST_TAG: "other-host", PID_TAG: str(child.pid)})
        untagged = client.create_run(experiment_id, run_name="untagged")
        assert mark_dead_runs_killed(uri) == [dead.info.run_id]
        assert client.get_run(alive.run_id).info.status == "RUNNING"
    assert client.get_run(dead.info.run_id).info.status == "KILLED"
    assert f"process {child.pid} on {socket.gethostname()} no longer exists" in \
        client.get_run(dead.info.run_id).data.tags["killed_reason"]
    for run in (elsewhere, untagged):
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
    assert client.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == TRAINING_KIND
