"""`siren-inr ui [tracking.uri=...] [port=5000]`: the MLflow UI on the project's store."""

from __future__ import annotations

import subprocess
import sys

from siren_inr.cli.hydra_support import print_error
from siren_inr.errors import SirenInrError


def ui_command(uri: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """The `mlflow ui` command line that serves the given store."""
    from siren_inr.tracking.store import sqlite_path

    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    db = sqlite_path(uri)
    if db is not None:
        command += ["--default-artifact-root", (db.parent / "artifacts").resolve().as_uri()]
    return command


def main(argv: list[str], prog: str = "siren-inr ui") -> int:
    """Run the MLflow UI until interrupted."""
    from siren_inr.tracking.store import resolve_tracking_uri

    settings = {"tracking.uri": None, "port": "5000", "host": "127.0.0.1"}
    for arg in argv:
        if arg in ("-h", "--help"):
            print(f"usage: {prog} [tracking.uri=sqlite:///mlruns/mlflow.db] [port=5000] [host=127.0.0.1]")
            return 0
        key, sep, value = arg.partition("=")
        if not sep or key not in settings:
            print_error(f"unknown setting {arg!r}; accepted: tracking.uri=..., port=..., host=...")
            return 2
        settings[key] = value
    try:
        uri = resolve_tracking_uri(settings["tracking.uri"])
        port = int(settings["port"])
    except (SirenInrError, ValueError) as err:
        print_error(str(err))
        return 2
    command = ui_command(uri, port, settings["host"])
    print("serving", uri, "at", f"http://{settings['host']}:{port}", flush=True)
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
