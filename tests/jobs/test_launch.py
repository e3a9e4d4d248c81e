"""jobs/launch.py: the command line Lightning's DDP launcher re-runs is one run of the current job, and a sweep's
next job starts without the rank variables the previous job's launch left."""

from __future__ import annotations

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
