"""The flow every command follows: `--help`, `debug=`, compose the config, call one job, one line per error.

Nothing here imports torch, Lightning or MLflow: a command's `--help` is answered from its text alone.
"""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable

from siren_inr.cli.hydra_support import print_error
from siren_inr.errors import SirenInrError, disk_full, full_disk_error
from siren_inr.validation import check_flag

HELP_FLAGS = ("-h", "--help")
_TRUE = ("true", "yes", "1")


def wants_help(argv: list[str]) -> bool:
    """Whether the command line asks for the command's help."""
    return any(arg in HELP_FLAGS for arg in argv)


def debug_requested(argv: list[str]) -> bool:
    """Whether the command line asks for full tracebacks (`debug=true`), read before any config is composed."""
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+") == "debug" and value.strip().lower() in _TRUE:
            return True
    return False


def out_of_memory(err: BaseException) -> bool:
    """Whether err is the machine (or the GPU) running out of memory."""
    torch = sys.modules.get("torch")  # an error raised before torch was imported is not torch's
    return isinstance(err, MemoryError) or (torch is not None and isinstance(err, torch.OutOfMemoryError))


# What a user's machine does to a command's files (a full disk, a read-only or special file system, a file where a
# folder is wanted, no permission): one line naming the file, exit 1, not a traceback.
_PLACE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR,
                           errno.EEXIST, errno.EDQUOT, errno.ENOENT})


def place_error(err: BaseException) -> bool:
    """Whether err is an OSError about the place a file goes (see _PLACE_ERRNOS) and names that file."""
    return isinstance(err, OSError) and err.errno in _PLACE_ERRNOS and err.filename is not None


def place_of(err: OSError) -> str:
    """The file an OSError is about: a move or copy names two, and a full disk is the destination's."""
    if err.filename2 is None:
        return str(err.filename)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return str(err.filename2)
    return f"{err.filename} -> {err.filename2}"


def reportable(err: BaseException) -> bool:
    """Whether err is reported in one line (a user error, a full disk, a file's place, out of memory), not as a bug."""
    return isinstance(err, SirenInrError) or disk_full(err) or place_error(err) or out_of_memory(err)


def report_exception(err: BaseException, debug: bool) -> str:
    """One line for a user error or running out of memory (the traceback too with debug); the traceback for bugs.
    Returns the message."""
    if isinstance(err, SirenInrError):
        message = str(err)
    elif disk_full(err):
        cause = full_disk_error(err)
        where = place_of(cause) if isinstance(cause, OSError) and cause.filename else "the MLflow store"
        message = f"the disk is full, {where} could not be written; free some space and run the command again"
    elif place_error(err):
        message = f"{place_of(err)}: {err.strerror}"
    elif out_of_memory(err):
        message = (f"out of memory ({type(err).__name__}); use a smaller data.sidelength, set data.batch_size, "
                   "or lower data.eval_chunk_size")
    else:
        traceback.print_exception(err)
        return f"{type(err).__name__}: {err}"
    if debug:
        traceback.print_exception(err)
    print_error(message)
    return message


def split_arguments(argv: list[str], names: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(the positional arguments named `names`, the key=value settings); a one-line error for anything else."""
    positional = [a for a in argv if "=" not in a and not a.startswith("-")]
    unknown = [a for a in argv if a.startswith("-") and "=" not in a]
    if not names and (positional or unknown):
        stray = [a for a in argv if "=" not in a]
        raise SirenInrError(f"unexpected argument(s) {' '.join(stray)}; settings are key=value")
    if unknown:
        raise SirenInrError(f"unknown option(s) {' '.join(unknown)}; settings are key=value")
    if len(positional) != len(names):
        raise SirenInrError(f"expected {' and '.join(names)}, got {len(positional)} path(s): {positional}")
    return positional, [a for a in argv if "=" in a]


def run_command(argv: list[str], prog: str, help_text: str | Callable[[str], str], job: Callable[..., int | None], *,
                config: str | Callable[[list[str]], object] | None = None, positional: tuple[str, ...] = ()) -> int:
    """Run one command: its help for -h/--help; else `job`, whose user errors (SirenInrError) end as one line
    `error: ...` and exit 2, and running out of memory as one line and exit 1 (`debug=true`: the traceback too).

    help_text: the help (`{prog}` is filled in), or a function of prog that builds it.
    config: None: job(argv) reads the arguments itself. Else the name of conf/<config>.yaml, or a function of the
        key=value settings that composes them; then job(cfg, *paths), paths being the `positional` arguments.
    job: returns the exit code (None: 0).
    """
    if wants_help(argv):
        text = help_text(prog) if callable(help_text) else help_text.replace("{prog}", prog)
        print(text)
        return 0
    debug = debug_requested(argv)
    try:
        if config is None:
            return int(job(argv) or 0)
        paths, overrides = split_arguments(argv, positional)
        if callable(config):
            cfg = config(overrides)
        else:
            from siren_inr.cli.config import compose

            cfg = compose(overrides, config)
        debug = check_flag("debug", cfg.get("debug", False))
        return int(job(cfg, *paths) or 0)
    except Exception as err:
        if not reportable(err):
            raise
        report_exception(err, debug)
        return 2 if isinstance(err, SirenInrError) else 1
