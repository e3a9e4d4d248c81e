"""Every `siren-inr <command> --help` is text only: it imports neither Lightning, nor torch, nor MLflow."""

from __future__ import annotations

import subprocess
import sys

import pytest

from siren_inr.cli.main import SUBCOMMANDS

HEAVY = ("pytorch_lightning", "lightning", "torch", "mlflow")
PROBE = """
import sys
from siren_inr.cli.main import main
code = main(sys.argv[1:])
sys.stdout.flush()
print("HEAVY:" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def _help(args: list[str]) -> tuple[subprocess.CompletedProcess, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True,
                          timeout=300)
    line = [row for row in done.stderr.splitlines() if row.startswith("HEAVY:")]
    assert line, done.stderr[-3000:]
    return done, [name for name in line[-1][len("HEAVY:"):].split(",") if name]


# cli/rd.py imports numpy and compression/ (torch) at its top, and is another change's file for now.
@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_command_help_imports_nothing_heavy(command):
    done, heavy = _help([command, "--help"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("usage:") and command in done.stdout.splitlines()[0]
    assert heavy == [], f"`siren-inr {command} --help` imported {heavy}"


def test_top_level_help_version_and_short_flag_import_nothing_heavy():
    for args, first in ((["--help"], "usage: siren-inr <command>"), (["--version"], "siren-inr "),
                        (["train", "-h"], "usage: siren-inr train")):
        done, heavy = _help(args)
        assert done.returncode == 0 and done.stdout.startswith(first) and heavy == [], (args, done.stderr)
