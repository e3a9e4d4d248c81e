"""jobs/launch.py: the command line Lightning's DDP launcher re-runs is one run of the current job, and a sweep's
next job starts without the rank variables the previous job's launch left."""

from __future__ import annotations

import contextlib
import os
import sys

import __main__
import pytest

from siren_inr.jobs import launch


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["siren-inr", "train"])
    monkeypatch.setattr(__main__, "__spec__", object(), raising=False)
    monkeypatch.setattr(launch, "_env_before_ddp", None)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)


@pytest.mark.parametrize("strategy, relaunched", [("ddp", True), ("ddp_find_unused_parameters_true", True),
                                                  ("ddp_spawn", False), ("auto", False), ("single_device", False)])
def test_only_subprocess_ddp_relaunches(strategy, relaunched):
    assert launch.relaunches_ranks(strategy) is relaunched
    assert launch.prepare_ddp_relaunch(strategy, "/x/train.py", False, ["seed=1"]) is relaunched
    assert sys.argv == ["siren-inr", "train"]  # a single run keeps its command line
    assert (__main__.__spec__ is None) is relaunched  # `python -m siren_inr` would re-run without the subcommand


def test_ranks_started_by_torchrun_are_not_relaunched(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not launch.prepare_ddp_relaunch("ddp", "/x/train.py", False, [])


def test_a_sweep_job_relaunches_itself_alone_and_the_next_job_forgets_its_ranks():
    assert launch.prepare_ddp_relaunch("ddp", "/x/train.py", True, ["model=relu", "seed=2"])
    assert sys.argv == ["/x/train.py", "model=relu", "seed=2"]  # not -m and every swept value
    os.environ["LOCAL_RANK"], os.environ["MASTER_PORT"] = "0", "12910"  # what Lightning's launch sets
    # The next job of the sweep: the variables are gone before it decides, so it is launched again.
    assert launch.prepare_ddp_relaunch("ddp", "/x/train.py", True, ["model=siren"])
    assert "LOCAL_RANK" not in os.environ and "MASTER_PORT" not in os.environ
    assert sys.argv == ["/x/train.py", "model=siren"]
    os.environ["LOCAL_RANK"] = "0"
    assert not launch.prepare_ddp_relaunch("auto", "/x/train.py", True, [])  # and a job without DDP too
    assert "LOCAL_RANK" not in os.environ


_RANK = """
import os, sys, time
sys.path.insert(0, {repo!r})
from siren_inr.jobs.launch import die_with_launcher
die_with_launcher()
print("ready", flush=True)
time.sleep(120)
"""

_LAUNCHER = """
import os, subprocess, sys, time
os.environ[{env!r}] = str(os.getpid())
os.environ["LOCAL_RANK"] = {rank!r}
child = subprocess.Popen([sys.executable, "-c", {rank_code!r}], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
time.sleep(120)
"""


def _launch_and_kill(rank: str, wait: float) -> bool:
    """Start a launcher that starts one rank, SIGKILL the launcher; whether the rank is gone `wait` s later."""
    import signal
    import subprocess
    import sys
    import time

    from siren_inr.jobs.launch import LAUNCHER_ENV
    from testkit import REPO, process_alive

    code = _LAUNCHER.format(env=LAUNCHER_ENV, rank=rank, rank_code=_RANK.format(repo=str(REPO)))
    launcher = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(launcher.stdout.readline())
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            if not process_alive(child):
                return True
            time.sleep(0.05)
        return False
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a rank dies with its launcher through Linux prctl")
def test_a_ddp_rank_dies_with_its_killed_launcher():
    assert _launch_and_kill("1", wait=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check that the rank dies relies on /proc")
def test_a_process_that_is_not_a_rank_is_left_alone():
    assert not _launch_and_kill("0", wait=1.5)
