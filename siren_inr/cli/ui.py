"""`siren-inr ui [experiment_name=...] [tracking.uri=...] [port=5000] [host=127.0.0.1] [browser=true]`: the MLflow UI
on the results.

It serves the project's SQLite store with one worker and no job runner (the fewest processes MLflow allows),
prints the URL of the runs of the named experiment, or of the one used last, in the "Model training" view
(MLflow 3 opens on GenAI traces otherwise) with final PSNR and SSIM as columns, best first; keeps the server's
request log in a file; and refuses a port in use, a folder without a store and a bad setting with one line
and a non-zero exit.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import urllib.request

from siren_inr.cli.hydra_support import print_error
from siren_inr.errors import SirenInrError

SETTINGS = {"tracking.uri": None, "port": "5000", "host": "127.0.0.1", "browser": "true", "experiment_name": None}
# MLflow 3's UI: the "Model training" view (query parameter read by its workflow switch) on the runs tab.
RUNS_VIEW = "#/experiments/{experiment_id}/runs?workflowType=machine_learning"
EXPERIMENTS_VIEW = "#/experiments?workflowType=machine_learning"
START_TIMEOUT_SECONDS = 120.0
LOG_NAME = "ui.log"
USAGE = ("usage: {prog} [experiment_name=NAME] [tracking.uri=sqlite:///mlruns/mlflow.db] [port=5000] "
         "[host=127.0.0.1] [browser=true]")


def ui_command(uri: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """The `mlflow ui` command line that serves the given store with a single worker."""
    from siren_inr.tracking.store import artifact_root_for

    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port),
               "--workers", "1"]
    root = artifact_root_for(uri)
    if root is not None:
        command += ["--default-artifact-root", root]
    return command


def checked_port(text: str) -> int:
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


def runs_url(host: str, port: int, experiment_id: str | None, view_key: str | None = None) -> str:
    """The URL that opens the runs view of an experiment (or the experiment list) in the Model training view,
    with the stored view `view_key` (columns and sort) when given."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}/"
    if not experiment_id:
        return base + EXPERIMENTS_VIEW
    url = base + RUNS_VIEW.format(experiment_id=experiment_id)
    return url + (f"&viewStateShareKey={view_key}" if view_key else "")


def log_path(db) -> "Path":
    """Where the server's request log goes: beside the store when its folder is writable, else the temp folder."""
    import tempfile
    from pathlib import Path

    folder = Path(db).parent
    if not os.access(folder, os.W_OK | os.X_OK):
        folder = Path(tempfile.gettempdir())
    return folder / LOG_NAME


def _parse(argv: list[str]) -> dict[str, str | None]:
    settings = dict(SETTINGS)
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in settings:
            raise SirenInrError(f"unknown setting {arg!r}; accepted: experiment_name=..., tracking.uri=..., "
                                "port=..., host=..., browser=true|false")
        settings[key] = value
    if settings["browser"] not in ("true", "false"):
        raise SirenInrError(f"browser={settings['browser']!r}; accepted: true or false")
    return settings


def _wait_until_up(process: subprocess.Popen, host: str, port: int) -> bool:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://{shown}:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str], prog: str = "siren-inr ui") -> int:
    """Serve the MLflow UI on the store until interrupted."""
    from siren_inr.tracking import queries
    from siren_inr.tracking.store import check_store, resolve_tracking_uri, sqlite_path

    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE.format(prog=prog))
        print("Serves the store with one worker; prints and opens the URL of the runs of experiment_name (default:\n"
              "the experiment used last), final PSNR and SSIM shown, best first. The server's log goes to ui.log\n"
              "beside the store.")
        return 0
    try:
        settings = _parse(argv)
        port = checked_port(settings["port"])
        uri = resolve_tracking_uri(settings["tracking.uri"])
        if sqlite_path(uri) is None:
            raise SirenInrError(f"tracking.uri={uri!r}: `siren-inr ui` serves a local SQLite store; a tracking "
                                "server has its own UI at its address")
        check_store(uri, write=False)  # a folder without a store is refused, never given an empty one
        check_port_free(settings["host"], port)
        writable = os.access(sqlite_path(uri), os.W_OK)
        if writable:
            queries.mark_training_experiments(uri)
        name = settings["experiment_name"]
        if name:
            experiment = queries.get_experiment(uri, name)
            if experiment is None:
                known = ", ".join(queries.list_experiment_names(uri)) or "none"
                raise SirenInrError(f"experiment_name={name!r} does not exist in {uri}; accepted: {known}")
            experiment_id = experiment.experiment_id
        else:
            experiment_id = queries.latest_experiment_id(uri)
        view_key = queries.publish_results_view(uri, experiment_id) if writable and experiment_id else None
    except SirenInrError as err:
        print_error(str(err))
        return 2
    url = runs_url(settings["host"], port, experiment_id, view_key)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log_file = log_path(sqlite_path(uri))
    try:
        log = open(log_file, "a")
    except OSError as err:
        print_error(f"cannot write the server log {log_file} ({err.strerror})")
        return 2
    # A `kill` or Ctrl-C stops the server too, never leaves it orphaned: siren-inr's handlers (cli/main.py)
    # raise KeyboardInterrupt for both. Its one line per request goes to the log, not the terminal.
    with log:
        process = subprocess.Popen(ui_command(uri, port, settings["host"]), env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        return _serve(process, settings, port, uri, url, log_file, name)


def _serve(process: subprocess.Popen, settings: dict, port: int, uri: str, url: str, log_file, name) -> int:
    try:
        if not _wait_until_up(process, settings["host"], port):
            _stop(process)
            print_error(f"the MLflow UI did not start on {settings['host']}:{port} (exit code {process.returncode}); "
                        f"see {log_file}")
            return 1
        print(f"MLflow UI for {uri}: {url}", flush=True)
        which = f"experiment {name!r}" if name else "the experiment used last"
        print(f"(the runs of {which}, final PSNR and SSIM shown, best first; the server's log: {log_file}; "
              "Ctrl-C stops the server)", flush=True)
        if settings["browser"] == "true":
            import webbrowser

            webbrowser.open(url)
        return process.wait()
    except KeyboardInterrupt:
        _stop(process)
        raise
