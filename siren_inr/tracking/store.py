"""Where runs are stored: the embedded SQLite store in ./mlruns, or any MLflow tracking URI.

Opening a store is the one place that turns store faults into one line naming the URI: a fresh SQLite store
is created under an exclusive file lock (several processes may open it at once), a half-created one is
recreated when it holds no runs and refused otherwise, and a tracking server is probed once, with MLflow's
HTTP retries bounded, so that an absent server fails in seconds rather than minutes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from siren_inr.errors import SirenInrError

DEFAULT_STORE_DIR = "mlruns"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
LOCK_SUFFIX = ".lock"
SQLITE_HEADER = b"SQLite format 3\x00"
# Longest wait for another process that is creating the same store: creation takes seconds, but a minute or
# more on a loaded machine; a holder that dies releases the lock at once (fcntl), so only a hung one waits here.
LOCK_TIMEOUT_SECONDS = 600.0
# Server faults must fail within about 30 s: two retries with a 1 s backoff and a 10 s timeout per request.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
PROBE_TIMEOUT_SECONDS = 5.0
_SERVER_SCHEMES = ("http", "https")


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


def limit_http_retries() -> None:
    """Bound MLflow's HTTP retries (its defaults retry an absent server for minutes); explicit env values win."""
    for key, value in HTTP_LIMITS.items():
        os.environ.setdefault(key, value)


def _why(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:200]


def probe_server(uri: str) -> None:
    """One request to the server's /health; a one-line error naming the URI when nothing answers."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            response.read(64)
    except urllib.error.HTTPError as err:
        if err.code >= 500:
            raise SirenInrError(f"tracking.uri={uri!r}: the server answers HTTP {err.code} to /health; "
                                "is it an MLflow server that is up?") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise SirenInrError(f"tracking.uri={uri!r}: no MLflow server answers ({_why(reason)}); start one "
                            "(mlflow server --port ...) or leave tracking.uri unset for ./mlruns") from None


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_sqlite_location(uri: str, db: Path, create: bool, write: bool) -> None:
    if db.is_dir():
        raise SirenInrError(f"tracking.uri={uri!r}: {db} is a folder, not a database file")
    if not db.exists():
        if not create:
            raise SirenInrError(f"tracking.uri={uri!r}: no tracking store at {db}; fit a run with "
                                "`siren-inr train` first or point tracking.uri= at an existing store")
        existing = _nearest_existing(db.parent)
        if not existing.is_dir():
            raise SirenInrError(f"tracking.uri={uri!r}: cannot create the store, {existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise SirenInrError(f"tracking.uri={uri!r}: cannot create the store, folder {existing} is not writable")
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SirenInrError(f"tracking.uri={uri!r}: cannot create folder {db.parent} ({_why(err)})") from None
        return
    try:
        with db.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as err:
        raise SirenInrError(f"tracking.uri={uri!r}: cannot read {db} ({_why(err)})") from None
    if header and header != SQLITE_HEADER:
        raise SirenInrError(f"tracking.uri={uri!r}: {db} is not an SQLite database (damaged or another file); "
                            "move it away or point tracking.uri= at another store")
    if write and not (os.access(db, os.W_OK) and os.access(db.parent, os.W_OK | os.X_OK)):
        raise SirenInrError(f"tracking.uri={uri!r}: the store {db} is read-only (the file or its folder "
                            f"{db.parent}); make it writable or use another store")


@contextlib.contextmanager
def store_lock(db: Path, uri: str) -> Iterator[None]:
    """An exclusive lock (fcntl) on <db>.lock while a store is created or repaired; other processes wait."""
    lock_path = db.with_name(db.name + LOCK_SUFFIX)
    try:
        handle = open(lock_path, "a+")
    except OSError as err:
        raise SirenInrError(f"tracking.uri={uri!r}: cannot create the lock file {lock_path} ({_why(err)})") from None
    with handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SirenInrError(f"tracking.uri={uri!r}: another process has held {lock_path} for over "
                                        f"{LOCK_TIMEOUT_SECONDS:.0f} s; is a command stuck creating the store?"
                                        ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _schema_state(db: Path) -> tuple[set[str], str | None, int | None]:
    """(tables, alembic revision, number of runs) of a SQLite file, read without MLflow (None: unknown)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}
        revision = None
        if "alembic_version" in tables:
            row = connection.execute("select version_num from alembic_version").fetchone()
            revision = row[0] if row else None
        runs = connection.execute("select count(*) from runs").fetchone()[0] if "runs" in tables else None
    finally:
        connection.close()
    return tables, revision, runs


def head_revision() -> str:
    """The schema revision this MLflow creates."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def _complete(db: Path) -> bool:
    """Whether a store is fully created at this MLflow's schema (then it is opened without taking the lock)."""
    if not db.is_file() or db.stat().st_size == 0:
        return False
    try:
        tables, revision, _ = _schema_state(db)
    except sqlite3.Error:
        return False
    return revision == head_revision() and not any(t.startswith("_alembic_tmp_") for t in tables)


def _empty_in_place(db: Path) -> None:
    # Emptied, not deleted: a process that already has the file open (a pooled connection) keeps seeing the
    # same file, which MLflow then creates afresh.
    connection = sqlite3.connect(db, timeout=30)
    try:
        connection.execute("pragma foreign_keys = off")
        names = [row[0] for row in connection.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")]
        for name in names:
            connection.execute(f'drop table if exists "{name}"')
        connection.commit()
        connection.execute("vacuum")
    finally:
        connection.close()


def _create_schema(db: Path) -> None:
    # MLflow's own creation (tables, then every migration), here rather than on the next open: a store object
    # this process already made for the URI would not create it again.
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def _repair_or_refuse(uri: str, db: Path) -> None:
    # Called under the lock: a store that an interrupted or concurrent creation left half-made is recreated
    # when it holds no runs (nothing to lose) and refused otherwise; a complete store is left alone.
    if not db.exists() or db.stat().st_size == 0:
        return
    try:
        tables, revision, runs = _schema_state(db)
    except sqlite3.DatabaseError as err:
        raise SirenInrError(f"tracking.uri={uri!r}: {db} cannot be read as an SQLite database ({_why(err)}); "
                            "move it away or point tracking.uri= at another store") from None
    if not tables:
        return
    leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
    head = head_revision()
    if revision == head and not leftovers:
        return
    if not runs:
        _empty_in_place(db)
        _create_schema(db)
        return
    what = f"left half-migrated ({', '.join(leftovers)})" if leftovers else \
        f"at schema {revision or 'unknown'}, not this MLflow's {head}"
    raise SirenInrError(f"tracking.uri={uri!r}: the store {db} holds {runs} run(s) and was {what}; back it up, "
                        f"then run `mlflow db upgrade {uri}` (or move it away to start a new store)")


def _open_with_mlflow(uri: str) -> None:
    import mlflow

    try:
        mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except SirenInrError:
        raise
    except Exception as err:  # MLflow, SQLAlchemy and requests raise many types; every one is a store fault here
        raise SirenInrError(f"tracking.uri={uri!r}: the store cannot be opened ({type(err).__name__}: "
                            f"{_why(err)})") from None


def open_store(uri: str, *, create: bool = True, write: bool = True, repair_runs: bool = True) -> None:
    """Open (and with create, make) the store, or raise one line naming the URI; then mark dead runs KILLED.

    create: make a missing SQLite store; write: refuse a read-only one; repair_runs: mark RUNNING runs of
    processes that no longer exist on this host KILLED (needs write).
    """
    limit_http_retries()
    db = sqlite_path(uri)
    if db is not None:
        _check_sqlite_location(uri, db, create, write)
        if _complete(db):
            _open_with_mlflow(uri)
        elif write:
            with store_lock(db, uri):
                _repair_or_refuse(uri, db)
                _open_with_mlflow(uri)
        else:
            # A reader must not open a store another process is creating: MLflow would start creating it too
            # (that race left stores half-migrated). Wait for the creator; a read-only folder has no lock file.
            lock_path = db.with_name(db.name + LOCK_SUFFIX)
            if lock_path.exists() or os.access(db.parent, os.W_OK):
                with store_lock(db, uri):
                    _open_with_mlflow(uri)
            else:
                _open_with_mlflow(uri)
    else:
        if urlparse(uri).scheme in _SERVER_SCHEMES:
            probe_server(uri)
        _open_with_mlflow(uri)
    if write and repair_runs:
        from siren_inr.tracking.run import mark_dead_runs_killed

        try:
            mark_dead_runs_killed(uri)
        except Exception as err:  # noqa: BLE001 - repairing others' runs must never stop this command
            raise SirenInrError(f"tracking.uri={uri!r}: cannot update runs in the store ({type(err).__name__}: "
                                f"{_why(err)})") from None


def ensure_store(uri: str) -> None:
    """Create the store (folder and schema) once, safely under concurrency; one-line errors naming the URI."""
    open_store(uri, create=True, write=True)


def check_store(uri: str, write: bool = True, missing_ok: bool = False) -> None:
    """Check that an existing store opens (and, with write, accepts writes) before any work; never creates one.

    missing_ok: a SQLite store that does not exist passes (the caller explains what it looked for there).
    """
    db = sqlite_path(uri)
    if missing_ok and db is not None and not db.exists():
        return
    open_store(uri, create=False, write=write)
