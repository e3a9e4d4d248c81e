"""The MLflow UI on a local store: checks before it starts, the `mlflow ui` process, its log file, its end.

It serves the project's SQLite store with one worker and no job runner (the fewest processes MLflow allows), opens
on the runs of the named experiment, or of the one used last, in the "Model training" view (MLflow 3 opens on GenAI
traces otherwise) with final PSNR and SSIM as columns, best first, and keeps the server's request log in a file.

The server is MLflow's own app with one page more (`app` below, registered as the MLflow app plugin `siren-inr` in
the entry-point group `mlflow.app`, which `mlflow ui --app-name` runs): START_PATH sets the browser's stored
"Model training" choice (MLflow keeps it in the UI's local storage, so only a page of the same origin can set it),
then opens the runs view named after its `#`. Without it, run pages and Compare fall back to GenAI mode.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from siren_inr.errors import SirenInrError

# MLflow 3's UI: the "Model training" view (query parameter read by its workflow switch) on the runs tab.
RUNS_VIEW = "#/experiments/{experiment_id}/runs?workflowType=machine_learning"
EXPERIMENTS_VIEW = "#/experiments?workflowType=machine_learning"
# The MLflow app plugin that adds the start page (pyproject.toml: [project.entry-points."mlflow.app"]).
APP_NAME = "siren-inr"
APP_OBJECT = "siren_inr.tracking.server:app"
START_PAGE_OPTIONS = ["--app-name", APP_NAME]
START_PATH = "/siren-inr/"
# MLflow 3.17's UI keeps the GenAI / Model training choice under this local-storage key (its useLocalStorage hook
# appends "_v<version>" and stores JSON); run pages and Compare read it, as no link inside the UI carries the choice.
WORKFLOW_KEY = "mlflow.workflowType_v1"
# Set so that the assistant panel does not open by itself over a third of the runs table on the first visit.
ASSISTANT_OPENED_KEY = "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1"
# The browser's own runs-table view of an experiment (columns, sort), which MLflow 3.17 merges over its defaults. The
# shared view of the URL (`viewStateShareKey`) is applied only to a URL without search settings, so going back to
# the runs from a run page showed the default columns; the start page copies the shared view here, unless the
# browser already has a view of its own for the experiment.
SAVED_VIEW_KEY = 'MLflowLocalStorage-1.1-ExperimentPage-["{id}"]-ReactComponentState'
START_PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>siren-inr: MLflow UI</title></head><body>
<p>Opening the MLflow UI in its Model training view&hellip; <a id="go" href="/">continue</a></p>
<script>
var target = "/" + (location.hash || "#/experiments?workflowType=machine_learning");
document.getElementById("go").href = target;
function go() { location.replace(target); }
try {
  localStorage.setItem("WORKFLOW_KEY", JSON.stringify("machine_learning"));
  if (localStorage.getItem("ASSISTANT_OPENED_KEY") === null) localStorage.setItem("ASSISTANT_OPENED_KEY", "true");
  var runs = /^#\/experiments\/([0-9A-Za-z_-]+)\/runs\?(.*)$/.exec(location.hash);
  var shared = runs && new URLSearchParams(runs[2]).get("viewStateShareKey");
  var saved = runs && 'SAVED_VIEW_KEY'.replace("{id}", runs[1]);
  if (shared && localStorage.getItem(saved) === null) {
    fetch("/ajax-api/2.0/mlflow/experiments/get?experiment_id=" + runs[1])
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        (answer.experiment.tags || []).forEach(function (tag) {
          if (tag.key === "mlflow.sharedViewState." + shared) localStorage.setItem(saved, tag.value);
        });
      })
      .catch(function () {})
      .then(go);
  } else {
    go();
  }
} catch (e) {
  go();
}
</script></body></html>
""".replace("ASSISTANT_OPENED_KEY", ASSISTANT_OPENED_KEY).replace("WORKFLOW_KEY", WORKFLOW_KEY).replace(
    "SAVED_VIEW_KEY", SAVED_VIEW_KEY).encode()
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 15.0
LOG_NAME = "ui.log"


class ServerDidNotStart(SirenInrError):
    """`mlflow ui` exited, or did not answer within START_TIMEOUT_SECONDS (a run-time failure, not a bad setting)."""


@dataclass
class UiServer:
    """What one `siren-inr ui` serves, where, and where its log goes."""

    uri: str
    host: str
    port: int
    url: str
    log_file: Path
    start_page: bool = False  # served by `app` (MLflow's app and START_PAGE), which `url` then goes through


class _MlflowWithStartPage:
    """MLflow's own server app (imported on the first request, so that `mlflow ui` can look at this object without
    loading it), plus the static START_PAGE at START_PATH. It is an object, not a function: MLflow would take a
    function for an app factory."""

    def __init__(self) -> None:
        self._mlflow = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == START_PATH and scope["method"] in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store"),
                                    (b"content-length", str(len(START_PAGE)).encode())]})
            await send({"type": "http.response.body", "body": START_PAGE if scope["method"] == "GET" else b""})
            return
        if self._mlflow is None:
            from mlflow.server.fastapi_app import app as mlflow_app

            self._mlflow = mlflow_app
        await self._mlflow(scope, receive, send)


app = _MlflowWithStartPage()


def start_page_installed(folder: Path) -> bool:
    """Whether `mlflow ui --app-name siren-inr`, started in `folder`, runs `app`: an install older than the entry
    point lacks it, and an MLflow older than 3 serves its UI through gunicorn (a WSGI app), without the workflow
    switch. `python -m mlflow` puts its working folder first on sys.path, so a distribution found there (such as a
    stale siren_inr.egg-info in a checkout) hides the installed one: the child's sys.path is the one looked at, and
    the first distribution of a name wins, as in importlib.metadata.entry_points()."""
    from importlib.metadata import distributions, version

    if int(version("mlflow").split(".")[0]) < 3:
        return False
    path = [str(folder), *(entry for entry in sys.path if entry not in ("", os.getcwd()))]
    seen = set()
    for distribution in distributions(path=path):
        name = (distribution.metadata["Name"] or "").lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        if any(entry.group == "mlflow.app" and entry.name == APP_NAME and entry.value == APP_OBJECT
               for entry in distribution.entry_points):
            return True
    return False


def ui_command(uri: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """The `mlflow ui` command line that serves the given store with a single worker (add START_PAGE_OPTIONS for
    the start page)."""
    from siren_inr.tracking.store import artifact_root_for

    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port),
               "--workers", "1"]
    root = artifact_root_for(uri)
    if root is not None:
        command += ["--default-artifact-root", root]
    return command


def checked_port(text) -> int:
    """The `port` setting: an integer 1..65535, or a one-line error naming it."""
    try:
        port = int(text)
    except (TypeError, ValueError):
        port = -1
    if not 0 < port < 65536 or str(text).strip() != str(port):
        raise SirenInrError(f"port={text!r}; accepted: an integer from 1 to 65535, e.g. port=5000")
    return port


def check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on (MLflow would print an error among its logs and exit 0)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise SirenInrError(f"host={host!r} cannot be resolved ({err.strerror}); accepted: an address of this "
                            "machine such as 127.0.0.1 or 0.0.0.0") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise SirenInrError(f"port={port} is already in use on {host}; choose another, e.g. "
                                    f"port={port + 1 if port < 65535 else 5000}") from None
            raise SirenInrError(f"host={host!r} port={port}: cannot listen there ({err.strerror})") from None


def _shown_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def runs_url(host: str, port: int, experiment_id: str | None, view_key: str | None = None,
             start_page: bool = False) -> str:
    """The URL that opens the runs view of an experiment (or the experiment list) in the Model training view,
    with the stored view `view_key` (columns and sort) when given; through the start page when `start_page`."""
    base = f"http://{_shown_host(host)}:{port}" + (START_PATH if start_page else "/")
    if not experiment_id:
        return base + EXPERIMENTS_VIEW
    url = base + RUNS_VIEW.format(experiment_id=experiment_id)
    return url + (f"&viewStateShareKey={view_key}" if view_key else "")


def log_path(db) -> Path:
    """Where the server's request log goes: beside the store when its folder is writable, else the temp folder."""
    folder = Path(db).parent
    if not os.access(folder, os.W_OK | os.X_OK):
        folder = Path(tempfile.gettempdir())
    return folder / LOG_NAME


def prepare_ui(tracking_uri: str | None, experiment_name: str | None, host: str, port) -> UiServer:
    """Check every setting and the store before anything starts (a folder without a store is refused, never given
    an empty one), mark the store's experiments as training ones and publish the results view when it is writable."""
    from siren_inr.tracking import queries
    from siren_inr.tracking.store import check_store, resolve_tracking_uri, sqlite_path

    port = checked_port(port)
    uri = resolve_tracking_uri(tracking_uri)
    if sqlite_path(uri) is None:
        raise SirenInrError(f"tracking.uri={uri!r}: `siren-inr ui` serves a local SQLite store; a tracking "
                            "server has its own UI at its address")
    check_store(uri, write=False)
    check_port_free(host, port)
    writable = os.access(sqlite_path(uri), os.W_OK)
    if writable:
        queries.mark_training_experiments(uri)
    if experiment_name:
        experiment = queries.get_experiment(uri, experiment_name)
        if experiment is None:
            known = ", ".join(queries.list_experiment_names(uri)) or "none"
            raise SirenInrError(f"experiment_name={experiment_name!r} does not exist in {uri}; accepted: {known}")
        experiment_id = experiment.experiment_id
    else:
        experiment_id = queries.latest_experiment_id(uri)
    view_key = queries.publish_results_view(uri, experiment_id) if writable and experiment_id else None
    start_page = start_page_installed(sqlite_path(uri).parent)
    return UiServer(uri=uri, host=host, port=port, url=runs_url(host, port, experiment_id, view_key, start_page),
                    log_file=log_path(sqlite_path(uri)), start_page=start_page)


def _server_folder(server: UiServer) -> Path | None:
    from siren_inr.tracking.store import sqlite_path

    db = sqlite_path(server.uri)
    return db.parent if db is not None and db.parent.is_dir() else None


def _wait_until_up(process: subprocess.Popen, host: str, port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://{_shown_host(host)}:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve_ui(server: UiServer, on_up: Callable[[], None]) -> int:
    """Run `mlflow ui` until it exits (its exit code is returned) or a KeyboardInterrupt, which stops it and goes on.

    `on_up` is called once the server answers. Its one line per request goes to the log file, not the terminal.
    Raises SirenInrError when the log cannot be written, ServerDidNotStart when the server never answered.
    """
    try:
        log = open(server.log_file, "a")
    except OSError as err:
        raise SirenInrError(f"cannot write the server log {server.log_file} ({err.strerror})") from None
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log:
        command = ui_command(server.uri, server.port, server.host) + (START_PAGE_OPTIONS if server.start_page else [])
        # Started in the store's folder (every path it is given is absolute): the user's working folder, first on a
        # `python -m` child's sys.path, could hide modules or installed metadata (start_page_installed).
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=_server_folder(server))
        # A `kill` or Ctrl-C stops the server too, never leaves it orphaned (both arrive as KeyboardInterrupt).
        try:
            if not _wait_until_up(process, server.host, server.port):
                _stop(process)
                raise ServerDidNotStart(f"the MLflow UI did not start on {server.host}:{server.port} (exit code "
                                        f"{process.returncode}); see {server.log_file}")
            on_up()
            return process.wait()
        except KeyboardInterrupt:
            _stop(process)
            raise
