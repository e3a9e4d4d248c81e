"""The `siren-inr` console script: dispatch a subcommand to its entry point."""

from __future__ import annotations

import importlib
import os
import signal
import sys

# subcommand -> (module, function, one-line help). Modules are imported lazily so that
# `siren-inr --help` stays fast and a broken optional piece cannot break `train`.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("siren_inr.cli.train", "main", "fit a network to an image (Hydra overrides follow; -m for multirun)"),
    "analyze": ("siren_inr.cli.analyze", "main", "analyse tracked runs: histories, tables, galleries, Benford"),
    "compress": ("siren_inr.cli.codec", "compress_main", "fit and encode an image as a .inr file"),
    "decompress": ("siren_inr.cli.codec", "decompress_main", "decode a .inr file to an image"),
    "rd": ("siren_inr.cli.rd", "main", "rate-distortion study of the INR codec against classical codecs"),
    "rerun": ("siren_inr.cli.rerun", "main", "refit a tracked run from its record and compare"),
    "bench": ("siren_inr.cli.bench", "main", "benchmark the fit against the reference loop"),
    "ui": ("siren_inr.cli.ui", "main", "open the MLflow UI on the local store"),
}


def _usage() -> str:
    lines = ["usage: siren-inr <command> [overrides...]", "", "commands:"]
    for name, (_, _, text) in SUBCOMMANDS.items():
        lines.append(f"  {name:<11} {text}")
    lines.append("")
    lines.append("Run 'siren-inr <command> --help' for the settings of a command.")
    return "\n".join(lines)


def _interrupted_while_importing(signum, frame) -> None:
    # A KeyboardInterrupt inside `import torch` leaves half-imported modules whose next import recurses; nothing
    # has been opened or written yet, so leave at once with one line.
    os.write(2, b"error: interrupted while starting; nothing was recorded\n")
    os._exit(130)


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand named first in argv."""
    previous = signal.signal(signal.SIGINT, _interrupted_while_importing)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"error: unknown command {name!r}; accepted: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    module_name, func_name, _ = SUBCOMMANDS[name]
    from siren_inr.fit.cpu import tune_allocator  # imports torch: under the interrupt handler above

    tune_allocator()  # before the command's tensors: large activations stay in the heap (siren_inr/fit/cpu.py)
    try:
        try:
            module = importlib.import_module(module_name)
            import pytorch_lightning  # noqa: F401  (every command's heavy import, done while interrupts exit)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                print(f"error: command {name!r} is not available in this installation", file=sys.stderr)
                return 2
            raise
        finally:
            signal.signal(signal.SIGINT, previous)
        code = getattr(module, func_name)(rest, prog=f"siren-inr {name}")
    except KeyboardInterrupt:
        # Ctrl-C while setting up (imports, composing, opening the store): runs that had started were already
        # marked KILLED by their own handler; say so in one line instead of a traceback.
        print(f"error: siren-inr {name} interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
