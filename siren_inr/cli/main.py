"""The `siren-inr` console script: dispatch a subcommand to its entry point."""

from __future__ import annotations

import importlib
import os
import signal
import sys

from siren_inr import __version__
from siren_inr.cli.command import wants_help

# subcommand -> (module, function, one-line help, what it imports before it runs). Modules are imported lazily and
# import nothing heavy themselves, so that every --help answers at once and a broken optional piece cannot break
# `train`. "fit": torch and Lightning (the command fits); "torch": torch only; "": nothing.
SUBCOMMANDS: dict[str, tuple[str, str, str, str]] = {
    "train": ("siren_inr.cli.train", "main", "fit a network to an image (Hydra overrides follow; -m for multirun)",
              "fit"),
    "analyze": ("siren_inr.cli.analyze", "main", "analyse tracked runs: histories, tables, galleries, Benford",
                "torch"),
    "compress": ("siren_inr.cli.codec", "compress_main", "fit and encode an image as a .inr file", "fit"),
    "decompress": ("siren_inr.cli.codec", "decompress_main", "decode a .inr file to an image", "torch"),
    "rd": ("siren_inr.cli.rd", "main", "rate-distortion study of the INR codec against classical codecs", "fit"),
    "rerun": ("siren_inr.cli.rerun", "main", "refit a tracked run from its record and compare", "fit"),
    "bench": ("siren_inr.cli.bench", "main", "benchmark the fit against the reference loop", "fit"),
    "ui": ("siren_inr.cli.ui", "main", "open the MLflow UI on the local store", ""),
}


def _usage() -> str:
    lines = ["usage: siren-inr <command> [overrides...]", "", "commands:"]
    for name, (_, _, text, _) in SUBCOMMANDS.items():
        lines.append(f"  {name:<11} {text}")
    lines.append("")
    lines.append("Run 'siren-inr <command> --help' for the settings of a command.")
    return "\n".join(lines)


def _interrupted_while_importing(signum, frame) -> None:
    # A KeyboardInterrupt inside `import torch` leaves half-imported modules whose next import recurses; nothing
    # has been opened or written yet, so leave at once with one line.
    os.write(2, b"error: interrupted while starting; nothing was recorded\n")
    os._exit(130)


class _ClosedPipeSafe:
    """stdout that, once its reader is gone (`siren-inr train | head -n 1`), drops further output instead of
    raising BrokenPipeError into the work (the fit would fail for a closed pager)."""

    def __init__(self, stream):
        self._stream = stream

    def _closed(self) -> None:
        # The descriptor too: the interpreter's last flush at exit must not fail either.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._closed()

    def __getattr__(self, name):
        return getattr(self._stream, name)


_SIGNALS_BEFORE_TRACKING: list[int] = []  # stop signals that came while siren_inr.tracking.run was not importable


def _stop_signal(signum, frame) -> None:
    # SIGTERM is treated as Ctrl-C by every command: the work stops through KeyboardInterrupt, so runs end
    # KILLED and temporary folders are removed; a repeated signal while stopping is only recorded.
    try:
        from siren_inr.tracking.run import note_stop_signal
    except ImportError:  # it was being imported (with Lightning) when the signal came: nothing was started yet
        _SIGNALS_BEFORE_TRACKING.append(signum)
        raise KeyboardInterrupt(f"signal {signum}") from None
    if note_stop_signal(signum):
        raise KeyboardInterrupt(f"signal {signum}")


# Commands that record runs or write files say what an interrupt left; the others only that they stopped.
_SERVES_ONLY = {"ui"}


def _stopped_message(name: str, signum: int) -> str:
    what = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    if name in _SERVES_ONLY:
        return f"siren-inr {name} stopped by {what}"
    return (f"error: siren-inr {name} stopped by {what}; a run it had started is marked KILLED and no output "
            "file was left half-written")


def _quiet_libraries() -> None:
    # MLflow logs every store creation and migration at INFO on stderr, between the command's own lines;
    # its warnings still show. An explicit MLFLOW_LOGGING_LEVEL wins.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand named first in argv."""
    _quiet_libraries()
    previous = signal.signal(signal.SIGINT, _interrupted_while_importing)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in {"--version", "-V"}:
        print(f"siren-inr {__version__}")
        return 0
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        # No command is an error (a script that forgot it must not pass); asking for help is not.
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"error: unknown command {name!r}; accepted: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    module_name, func_name, _, preload = SUBCOMMANDS[name]
    if wants_help(rest):
        preload = ""  # a help is text only
    if preload:
        from siren_inr.fit.cpu import tune_allocator  # imports torch: under the interrupt handler above

        tune_allocator()  # before the command's tensors: large activations stay in the heap (siren_inr/fit/cpu.py)
    if not isinstance(sys.stdout, _ClosedPipeSafe):
        sys.stdout = _ClosedPipeSafe(sys.stdout)
    try:
        try:
            module = importlib.import_module(module_name)
            if preload == "fit":
                import pytorch_lightning  # noqa: F401  (a fitting command's heavy import, done while interrupts exit)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                print(f"error: command {name!r} is not available in this installation", file=sys.stderr)
                return 2
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGINT, _stop_signal)
        signal.signal(signal.SIGTERM, _stop_signal)
        code = getattr(module, func_name)(rest, prog=f"siren-inr {name}")
    except KeyboardInterrupt:
        # Stopped anywhere (setting up, fitting, writing): runs that had started were marked KILLED by their own
        # handler; one line instead of a traceback, the shell's exit code for the signal.
        seen = _seen_signals()
        signum = seen[0] if seen else signal.SIGINT
        print(_stopped_message(name, signum), file=sys.stderr, flush=True)
        return 128 + signum
    except SystemExit:
        seen = _seen_signals()
        if not seen:  # Lightning turns an interrupt into SystemExit(1) after its shutdown
            raise
        print(_stopped_message(name, seen[0]), file=sys.stderr, flush=True)
        return 128 + seen[0]
    seen = _seen_signals()
    if seen:  # a command that caught the interrupt itself and returned
        print(_stopped_message(name, seen[0]), file=sys.stderr, flush=True)
        return 128 + seen[0]
    return int(code or 0)


def _seen_signals() -> list[int]:
    run = sys.modules.get("siren_inr.tracking.run")
    seen = run.stop_signals_seen() if run is not None and hasattr(run, "stop_signals_seen") else []
    return seen or list(_SIGNALS_BEFORE_TRACKING)


if __name__ == "__main__":
    sys.exit(main())
