"""Where runs are stored: the embedded SQLite store in ./mlruns, or any MLflow tracking URI.

Opening a store is the one place that turns store faults into one line naming the URI: a fresh SQLite store
is created under an exclusive file lock (several processes may open it at once), and a tracking server is
probed once, with MLflow's HTTP retries bounded, so that an absent server fails in seconds rather than minutes.

A store is never destroyed: an SQLite file that is not an MLflow store is refused before MLflow sees it (MLflow
would add its tables to it); a half-created store is recreated only when it holds nothing (no experiment but
MLflow's empty Default, no registered model, no run); an older schema is upgraded the way `mlflow db upgrade`
does it, after a backup copy of the file.

A run is never left RUNNING by a full disk: a command that writes keeps a reserve file beside a SQLite store
(RESERVE_BYTES), which a run that cannot be marked ended for lack of room gives back to the disk; where there is no
room for the reserve, the command refuses to start.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from siren_inr.errors import SirenInrError
from siren_inr.names import KILLED_REASON_TAG

# mlflow.utils.validation.MAX_EXPERIMENT_NAME_LENGTH (a test keeps them equal); not imported, so that checking a
# name before any store exists does not import MLflow.
MAX_EXPERIMENT_NAME_LENGTH = 500

DEFAULT_STORE_DIR = "mlruns"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
LOCK_SUFFIX = ".lock"
# Room kept beside a SQLite store for ending runs when the disk fills up: a run's status update needs a few pages
# and their journal. A command that opens the store for writing keeps this file; a run that cannot be marked ended
# because the disk is full deletes it and tries once more (keep_reserve, release_reserve).
RESERVE_SUFFIX = ".reserve"
RESERVE_BYTES = 1 << 20
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
    if len(str(name)) > MAX_EXPERIMENT_NAME_LENGTH:
        raise SirenInrError(f"experiment_name of {len(str(name))} characters ({str(name)[:40]!r}...); accepted: a "
                            f"name of at most {MAX_EXPERIMENT_NAME_LENGTH} characters (MLflow's limit)")
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


def nearest_existing(path: Path) -> Path:
    """path, or the nearest of its parents that exists (where the missing folders would be created)."""
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
        existing = nearest_existing(db.parent)
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


def _schema_state(db: Path) -> tuple[set[str], str | None]:
    """(tables, alembic revision) of a SQLite file, read without MLflow (revision None: none recorded)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}
        revision = None
        if "alembic_version" in tables:
            row = connection.execute("select version_num from alembic_version").fetchone()
            revision = row[0] if row else None
    finally:
        connection.close()
    return tables, revision


# Rows MLflow writes into every store it creates: its bookkeeping, the default workspace, experiment 0.
_BOOKKEEPING_TABLES = ("alembic_version", "workspaces")
DEFAULT_EXPERIMENT_ID = 0


def store_content(db: Path) -> dict[str, int]:
    """What a store holds beyond what MLflow puts in an empty one: {'run': 3, 'experiment': 1, ...} (non-zero only).

    Every row of every table counts, except MLflow's bookkeeping and its empty Default experiment; so a store
    is empty only when recreating it loses nothing.
    """
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        tables = [row[0] for row in connection.execute(
            "select name from sqlite_master where type='table' and name not like 'sqlite_%'")]
        content: dict[str, int] = {}
        for table in tables:
            if table in _BOOKKEEPING_TABLES:
                continue
            query = f'select count(*) from "{table}"'
            if table == "experiments":
                query += f" where not (experiment_id = {DEFAULT_EXPERIMENT_ID} and name = 'Default')"
            count = connection.execute(query).fetchone()[0]
            if count:
                content[_CONTENT_NAMES.get(table, f"row of {table}")] = count
    finally:
        connection.close()
    return content


_CONTENT_NAMES = {"runs": "run", "experiments": "experiment", "registered_models": "registered model",
                  "model_versions": "model version", "experiment_tags": "experiment tag",
                  "logged_models": "logged model", "trace_info": "trace"}


def _describe(content: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}(s)" for name, count in sorted(content.items(), key=lambda kv: kv[0] != "run"))


def head_revision() -> str:
    """The schema revision this MLflow creates."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def known_revisions() -> set[str]:
    """Every schema revision this MLflow's migrations know (a store at one of them can be upgraded)."""
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    return {script.revision for script in ScriptDirectory.from_config(_get_alembic_config("")).walk_revisions()}


def mlflow_tables() -> set[str]:
    """The table names of MLflow's schema, first and current (alembic's own excluded)."""
    from mlflow.store.db.utils import Base, InitialBase

    return set(Base.metadata.tables) | set(InitialBase.metadata.tables)


def _is_mlflow_store(tables: set[str], revision: str | None) -> bool:
    if revision is not None and revision in known_revisions():
        return True
    known = mlflow_tables() | {"alembic_version"}
    return all(t in known or t.startswith("_alembic_tmp_") or t.startswith("sqlite_") for t in tables)


def _refuse_foreign(uri: str, db: Path, tables: set[str], revision: str | None) -> None:
    if tables and not _is_mlflow_store(tables, revision):
        foreign = sorted(t for t in tables if t not in mlflow_tables() and t != "alembic_version")
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise SirenInrError(f"tracking.uri={uri!r}: {db} is an SQLite database but not an MLflow store (it has "
                            f"the tables {shown}); it was left untouched. Point tracking.uri= at an MLflow store "
                            "or at a new file")


def _complete(db: Path) -> bool:
    """Whether a store is fully created at this MLflow's schema (then it is opened without taking the lock)."""
    if not db.is_file() or db.stat().st_size == 0:
        return False
    try:
        tables, revision = _schema_state(db)
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


def backup_path(db: Path, revision: str | None) -> Path:
    """A free file name beside the store for its copy before an upgrade: mlflow.db.before-upgrade-<rev>[.N]."""
    base = db.with_name(f"{db.name}.before-upgrade-{revision or 'unknown'}")
    candidate, number = base, 1
    while candidate.exists():
        candidate, number = base.with_name(f"{base.name}.{number}"), number + 1
    return candidate


def _backup(db: Path, target: Path) -> None:
    # SQLite's own backup: a consistent copy even while another process reads the store.
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()


def _upgrade(uri: str, db: Path, revision: str | None, content: dict[str, int]) -> None:
    import sqlalchemy
    from mlflow.store.db.utils import _upgrade_db

    target = backup_path(db, revision)
    try:
        _backup(db, target)
    except (OSError, sqlite3.Error) as err:
        target.unlink(missing_ok=True)
        raise SirenInrError(f"tracking.uri={uri!r}: the store {db} is at an older MLflow schema ({revision}) and "
                            f"cannot be copied before upgrading ({_why(err)}); nothing was changed") from None
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    try:
        _upgrade_db(engine)
    except Exception as err:  # noqa: BLE001 - alembic and SQLAlchemy raise many types; the copy is intact
        raise SirenInrError(f"tracking.uri={uri!r}: upgrading the store {db} from schema {revision} failed "
                            f"({type(err).__name__}: {_why(err)}); the file before the upgrade is {target}"
                            ) from None
    finally:
        engine.dispose()
    print(f"note: the store {db} ({_describe(content) or 'empty'}) was upgraded from MLflow schema {revision} to "
          f"{head_revision()}; the file as it was is kept at {target}", file=sys.stderr, flush=True)


def _repair_or_refuse(uri: str, db: Path) -> None:
    # Called under the lock. A complete store is left alone; one that holds nothing and was left half-made
    # by an interrupted or concurrent creation is recreated; one at an older schema MLflow knows is upgraded
    # after a backup copy; anything else with content is refused untouched.
    if not db.exists() or db.stat().st_size == 0:
        return
    try:
        tables, revision = _schema_state(db)
    except sqlite3.DatabaseError as err:
        raise SirenInrError(f"tracking.uri={uri!r}: {db} cannot be read as an SQLite database ({_why(err)}); "
                            "move it away or point tracking.uri= at another store") from None
    if not tables:
        return
    _refuse_foreign(uri, db, tables, revision)
    leftovers = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
    head = head_revision()
    if revision == head and not leftovers:
        return
    content = store_content(db)
    if not content:
        _empty_in_place(db)
        _create_schema(db)
        return
    if not leftovers and revision is not None and revision in known_revisions():
        _upgrade(uri, db, revision, content)
        return
    what = f"left half-migrated ({', '.join(leftovers)})" if leftovers else \
        f"at schema {revision or 'unknown'}, not one this MLflow knows (its newest is {head})"
    raise SirenInrError(f"tracking.uri={uri!r}: the store {db} holds {_describe(content)} and was {what}; it was "
                        f"left untouched: back it up, then run `mlflow db upgrade {uri}` with the MLflow that "
                        "made it (or move it away to start a new store)")


def _hide_default_experiment(uri: str) -> None:
    # MLflow puts an empty experiment "Default" into every store it creates; in a store siren-inr creates it
    # would be the UI's first, empty entry. Deleted (restorable), it stays deleted: MLflow only recreates a
    # missing one.
    from mlflow.exceptions import MlflowException

    client = mlflow_client(uri)
    try:
        experiment = client.get_experiment(str(DEFAULT_EXPERIMENT_ID))
        if experiment.name == "Default" and experiment.lifecycle_stage == "active" and not client.search_runs(
                [experiment.experiment_id], max_results=1, run_view_type=3):
            client.delete_experiment(experiment.experiment_id)
    except MlflowException:
        pass


def mlflow_client(uri: str):
    """An MLflow client of the store; MLflow's own logging of the store faults it raises is silenced."""
    import logging

    import mlflow

    # MLflow logs a store error (with its traceback) and then raises it, an asynchronous one when the logger waits
    # for its points (MlflowRunLogger.finalize); the command reports it once, in one line.
    for name in ("mlflow.store.db.utils", "mlflow.utils.async_logging.async_logging_queue"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return mlflow.MlflowClient(tracking_uri=uri)


def _has_tables(db: Path) -> bool:
    try:
        return db.is_file() and db.stat().st_size > 0 and bool(_schema_state(db)[0])
    except sqlite3.Error:
        return True


def _check_is_mlflow(uri: str, db: Path) -> None:
    # Before MLflow sees the file at all: opening it, even to read, adds MLflow's tables to it.
    if not db.is_file() or db.stat().st_size == 0:
        return
    try:
        tables, revision = _schema_state(db)
    except sqlite3.Error:
        return  # damaged: the lock holder's repair names the fault
    _refuse_foreign(uri, db, tables, revision)


def _upgradable_here(db: Path) -> bool:
    # A reader (the UI) opening an older store upgrades it like a writer when it may write there; MLflow
    # would otherwise migrate it itself without a copy.
    return db.is_file() and os.access(db, os.W_OK) and os.access(db.parent, os.W_OK | os.X_OK) and _has_tables(db)


def _open_with_mlflow(uri: str) -> None:
    try:
        mlflow_client(uri).search_experiments(max_results=1)
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
        _check_is_mlflow(uri, db)
        if _complete(db):
            _open_with_mlflow(uri)
        elif write or _upgradable_here(db):
            with store_lock(db, uri):
                fresh = not _has_tables(db)
                _repair_or_refuse(uri, db)
                _open_with_mlflow(uri)
                if fresh:
                    _hide_default_experiment(uri)
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
    if write and db is not None and not keep_reserve(db):
        # A run started now could not be marked ended if the disk filled up during it.
        raise SirenInrError(f"tracking.uri={uri!r}: the disk is full, {db.parent} has less than "
                            f"{RESERVE_BYTES >> 20} MiB free; free some space and run the command again")
    if write and repair_runs:
        try:
            mark_dead_runs_killed(uri)
        except Exception as err:  # noqa: BLE001 - repairing others' runs must never stop this command
            raise SirenInrError(f"tracking.uri={uri!r}: cannot update runs in the store ({type(err).__name__}: "
                                f"{_why(err)})") from None


def reserve_path(db: Path) -> Path:
    """The file that keeps room on the store's disk for ending runs (see RESERVE_BYTES)."""
    return db.with_name(db.name + RESERVE_SUFFIX)


def keep_reserve(db: Path) -> bool:
    """Make the reserve file beside the store unless it exists; False when the disk has no room for it (any other
    fault, such as a file system that cannot hold it, is let pass: the reserve is a safeguard, not a need)."""
    path = reserve_path(db)
    if path.exists():
        return True
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)  # blocks really taken, not a sparse file
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.write(fd, bytes(RESERVE_BYTES))
        finally:
            os.close(fd)
        os.replace(partial, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            partial.unlink()
        return err.errno not in (errno.ENOSPC, errno.EDQUOT)
    return True


def release_reserve(uri: str) -> bool:
    """Give the reserve's room back to the disk of a SQLite store; whether there was any to give."""
    db = sqlite_path(uri)
    if db is None:
        return False
    try:
        reserve_path(db).unlink()
    except OSError:
        return False
    return True


def precheck_store(uri: str) -> None:
    """The store checks that need neither MLflow nor a change on disk, for a command to make before it creates any
    folder: a server that does not answer; a SQLite file that is no SQLite database, another program's database or
    read-only; a store that could not be created. ensure_store opens (or creates) it later."""
    limit_http_retries()
    db = sqlite_path(uri)
    if db is None:
        if urlparse(uri).scheme in _SERVER_SCHEMES:
            probe_server(uri)
        return
    if db.exists():
        _check_sqlite_location(uri, db, create=False, write=True)
        _check_is_mlflow(uri, db)
        return
    existing = nearest_existing(db.parent)
    if not existing.is_dir():
        raise SirenInrError(f"tracking.uri={uri!r}: cannot create the store, {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SirenInrError(f"tracking.uri={uri!r}: cannot create the store, folder {existing} is not writable")


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


def mark_dead_runs_killed(uri: str) -> list[str]:
    """Mark KILLED every RUNNING run whose process on this host no longer exists (tagged why); their ids."""
    import datetime as dt

    from mlflow.entities import ViewType

    from siren_inr.tracking.provenance import HOST_TAG, PID_TAG, run_process_alive

    client = mlflow_client(uri)
    experiment_ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    killed = []
    for start in range(0, len(experiment_ids), 100):
        runs = client.search_runs(experiment_ids[start:start + 100], filter_string="attributes.status = 'RUNNING'",
                                  max_results=10000)
        for run in runs:
            tags = run.data.tags
            if run_process_alive(tags) is not False:
                continue
            now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            client.set_tag(run.info.run_id, KILLED_REASON_TAG,
                           f"process {tags.get(PID_TAG)} on {tags.get(HOST_TAG)} no longer exists "
                           f"(found at {now})")
            client.set_terminated(run.info.run_id, "KILLED")
            killed.append(run.info.run_id)
    return killed
