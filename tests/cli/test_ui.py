"""`siren-inr ui` as a user runs it: the runs view's URL, one worker, and one-line refusals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from siren_inr.tracking import server
from siren_inr.tracking.server import START_PAGE_OPTIONS, checked_port, runs_url, ui_command
from siren_inr.errors import SirenInrError
from testkit import free_port, process_alive, process_children, store_uri


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from siren_inr.tracking.run import tracked_run
    from siren_inr.tracking.store import ensure_store

    folder = tmp_path_factory.mktemp("ui")
    uri = store_uri(folder)
    ensure_store(uri)
    with tracked_run(uri, "first", run_name="old"):
        pass
    from PIL import Image

    from siren_inr.analysis.pipeline import ui_markdown

    with tracked_run(uri, "zoo", run_name="siren") as run:
        run.log_metrics({"final/psnr": 30.0}, step=0)
        Image.new("L", (4, 3), 200).save(folder / "gallery.png")
        run.log_artifact(folder / "gallery.png", "plots")
        (folder / "report.md").write_text(ui_markdown("![gallery](plots/gallery.png)", run.run_id))
        run.log_artifact(folder / "report.md")
    return folder


@pytest.mark.parametrize("port", ["abc", "0", "70000", "5000.0", ""])
def test_port_must_be_an_integer_in_range(port):
    with pytest.raises(SirenInrError, match=r"port="):
        checked_port(port)
    assert checked_port("5001") == 5001


def test_command_uses_one_worker_and_the_store_artifact_root(tmp_path):
    command = ui_command(store_uri(tmp_path), 5000)
    assert command[command.index("--workers") + 1] == "1"
    assert command[command.index("--default-artifact-root") + 1] == (tmp_path / "mlruns" / "artifacts").as_uri()
    assert runs_url("0.0.0.0", 5000, "7") == "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"
    assert runs_url("0.0.0.0", 5000, "7", start_page=True) == ("http://127.0.0.1:5000/siren-inr/#/experiments/7/runs"
                                                                "?workflowType=machine_learning")
    assert START_PAGE_OPTIONS == ["--app-name", "siren-inr"]


def test_the_start_page_app_is_registered_with_mlflow(tmp_path):
    """`mlflow ui --app-name siren-inr` finds `app` through the entry point, and takes it for an app, not a
    factory (MLflow calls a plain function). A folder holding an older siren_inr.egg-info (a checkout after
    `pip wheel .`) hides the installed entry points from a `python -m mlflow` started there: no start page then."""
    import types

    from siren_inr.tracking.server import start_page_installed

    assert start_page_installed(tmp_path), "the mlflow.app entry point is missing: reinstall (pip install -e .)"
    assert not isinstance(server.app, types.FunctionType)
    stale = tmp_path / "siren_inr.egg-info"
    stale.mkdir()
    (stale / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: siren-inr\nVersion: 0.1.0\n")
    (stale / "entry_points.txt").write_text("[console_scripts]\nsiren-inr = siren_inr.cli.main:main\n")
    assert not start_page_installed(tmp_path)


def _call_app(path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    import asyncio

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(server.app({"type": "http", "path": path, "method": method, "headers": []}, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_the_start_page_stores_the_training_mode_then_opens_the_runs():
    status, headers, body = _call_app("/siren-inr/")
    assert status == 200 and headers[b"content-type"].startswith(b"text/html")
    page = body.decode()
    # MLflow 3.17's stored choice: key "mlflow.workflowType" version 1, a JSON string.
    assert 'localStorage.setItem("mlflow.workflowType_v1", JSON.stringify("machine_learning"))' in page
    assert 'location.replace(target)' in page and '"/" + (location.hash' in page
    # The shared view becomes the browser's own view of the experiment when it has none (MLflow 3.17's key).
    assert """'MLflowLocalStorage-1.1-ExperimentPage-["{id}"]-ReactComponentState'""" in page
    assert '"mlflow.sharedViewState." + shared' in page
    assert _call_app("/siren-inr/", "HEAD")[2] == b""


def test_bad_port_is_one_line_naming_the_setting(store, in_process):
    message = _one_line_error(in_process(["ui", "port=abc"], store))
    assert "port='abc'" in message and "1 to 65535" in message


def test_folder_without_a_store_is_refused_and_none_is_created(tmp_path, in_process):
    message = _one_line_error(in_process(["ui", "browser=false"], tmp_path))
    assert "no tracking store" in message
    assert not (tmp_path / "mlruns").exists()


def test_unknown_experiment_is_one_line_naming_the_known_ones(store, in_process):
    message = _one_line_error(in_process(["ui", "experiment_name=nope", "browser=false"], store))
    assert "experiment_name='nope' does not exist" in message and "zoo" in message and "first" in message


@pytest.mark.slow
def test_the_named_experiment_or_the_one_used_last(tmp_path):
    import mlflow

    from siren_inr.tracking import queries
    from siren_inr.tracking.run import tracked_run
    from siren_inr.tracking.store import ensure_store

    uri = store_uri(tmp_path)
    ensure_store(uri)
    with tracked_run(uri, "sweep-exp") as sweep_run:
        pass
    with tracked_run(uri, "compress-exp"):
        pass
    assert queries.latest_experiment_id(uri) == queries.get_experiment(uri, "compress-exp").experiment_id
    # A run that ends later makes its experiment the one used last (an analysis finished after a compress).
    client = mlflow.MlflowClient(uri)
    client.update_run(sweep_run.run_id, "RUNNING")
    time.sleep(0.01)
    client.set_terminated(sweep_run.run_id, "FINISHED")
    assert queries.latest_experiment_id(uri) == queries.get_experiment(uri, "sweep-exp").experiment_id
    assert runs_url("127.0.0.1", 5000, "3", "k").endswith("/#/experiments/3/runs?workflowType=machine_learning"
                                                           "&viewStateShareKey=k")


def test_busy_port_is_refused(store, in_process):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = _one_line_error(in_process(["ui", f"port={port}", "browser=false"], store))
    assert f"port={port} is already in use" in message


def _tree(pid: int) -> list[int]:
    members = [pid]
    for child in process_children(pid):
        members += _tree(child)
    return members


@pytest.mark.slow
def test_serves_the_runs_view_of_the_latest_experiment_with_few_processes(store):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "siren_inr", "ui", f"port={port}", "browser=false"], cwd=store,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        url = None
        deadline = time.monotonic() + 240
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("MLflow UI for"):
                url = line.rsplit(" ", 1)[-1].strip()
        assert url is not None, "no URL printed"
        from siren_inr.tracking import queries

        zoo = queries.get_experiment(store_uri(store), "zoo")
        assert url == (f"http://127.0.0.1:{port}/siren-inr/#/experiments/{zoo.experiment_id}/runs"
                       "?workflowType=machine_learning&viewStateShareKey=siren-inr-results")
        # The start page (which stores the Model training choice, then opens the runs at the UI's own page) is
        # served beside MLflow's UI, by the same server.
        with urllib.request.urlopen(url.split("#")[0], timeout=20) as response:
            assert b"mlflow.workflowType_v1" in response.read()
        page = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(page, timeout=20) as response:
            assert b"<html" in response.read()[:2000].lower()
        # The view the key names: final PSNR and SSIM as columns, best PSNR first.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            assert response.status == 200
        # The experiment is a training one, so MLflow 3 lists it in the Model training view.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search",
                                         data=json.dumps({"max_results": 10}).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=20) as response:
            experiments = json.loads(response.read())["experiments"]
        kinds = {e["name"]: {t["key"]: t["value"] for t in e.get("tags", [])}.get("mlflow.experimentKind")
                 for e in experiments}
        assert kinds["zoo"] == kinds["first"] == "custom_model_development"
        tags = {e["name"]: {t["key"]: t["value"] for t in e.get("tags", [])} for e in experiments}
        view = json.loads(tags["zoo"]["mlflow.sharedViewState.siren-inr-results"])
        assert view["orderByKey"] == "metrics.`final/psnr`" and view["orderByAsc"] is False
        assert view["selectedColumns"][:2] == ["metrics.`final/psnr`", "metrics.`final/ssim`"]
        assert "Default" not in tags  # no empty Default experiment in a store siren-inr made
        # An analysis report's picture link, resolved against the UI's page as the UI's Markdown view does,
        # reaches the image.
        report = (store / "report.md").read_text()
        link = report[report.index("(") + 1:report.index(")")]
        with urllib.request.urlopen(urllib.parse.urljoin(page, link), timeout=20) as response:
            assert response.read()[:8] == b"\x89PNG\r\n\x1a\n"
        # The server's request lines go to its log file, not the terminal.
        log = store / "mlruns" / "ui.log"
        assert "GET /health" in log.read_text()
        # siren-inr ui, mlflow ui, one uvicorn worker: no job runner, no worker pool.
        assert len(_tree(process.pid)) <= 3, _tree(process.pid)
    finally:
        members = _tree(process.pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    time.sleep(1)
    assert not [pid for pid in members if pid != process.pid and process_alive(pid)], "server left running"
