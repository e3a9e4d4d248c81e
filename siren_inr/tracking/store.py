"""Where runs are stored: the embedded SQLite store in ./mlruns, or any MLflow tracking URI."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from siren_inr.errors import SirenInrError

DEFAULT_STORE_DIR = "mlruns"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "artifacts"


def default_tracking_uri(root: str | Path | None = None) -> str:
    """sqlite:////abs/path/mlruns/mlflow.db for the working directory (or `root`)."""
    base = Path(root or os.getcwd()).resolve() / DEFAULT_STORE_DIR
    return f"sqlite:///{base / DB_NAME}"


def resolve_tracking_uri(uri: str | None, root: str | Path | None = None) -> str:
    """The tracking URI to use: the default store when `uri` is None/empty; relative sqlite/file paths made absolute."""
    if not uri:
        return default_tracking_uri(root)
    uri = str(uri)
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        path = uri[len("sqlite:///"):]
        if not uri.startswith("sqlite:///"):
            raise SirenInrError(f"tracking.uri={uri!r}; a SQLite URI looks like sqlite:///relative.db or "
                                "sqlite:////absolute/path.db")
        if not path.startswith("/"):
            path = str(Path(root or os.getcwd()).resolve() / path)
        return f"sqlite:///{path}"
    if scheme in ("http", "https", "databricks", "postgresql", "mysql", "mssql"):
        return uri
    if scheme in ("", "file"):
        raise SirenInrError(f"tracking.uri={uri!r}: MLflow no longer accepts plain folder stores; accepted: "
                            "sqlite:///path/mlflow.db, http(s)://server:port, or a database URI")
    raise SirenInrError(f"tracking.uri={uri!r}: unknown scheme {scheme!r}; accepted: sqlite, http, https, "
                        "postgresql, mysql")


def checked_experiment_name(name) -> str:
    """The experiment name as a string; a one-line error for an empty or missing one (before any store exists)."""
    if isinstance(name, bool) or not isinstance(name, (str, int)) or not str(name).strip():
        raise SirenInrError(f"experiment_name={name!r}; accepted: a non-empty name, e.g. experiment_name=my-study")
    return str(name)


def artifact_root_for(uri: str) -> str | None:
    """Artifact location for new experiments: <db folder>/artifacts for SQLite stores; the server's own otherwise."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        return (db.parent / ARTIFACTS_DIR).resolve().as_uri()
    return None


def sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite URI, else None."""
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def ensure_store(uri: str) -> None:
    """Create the store (folder and schema) once; safe to call before parallel jobs start."""
    import mlflow

    db = sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    client = mlflow.MlflowClient(tracking_uri=uri)
    client.search_experiments(max_results=1)
