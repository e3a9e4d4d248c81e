"""How a fit's processes are started: Lightning's DDP launcher starts ranks 1..N-1 by running this program's command
line again (`sys.executable sys.argv`) with rank variables set. This module makes that command a single run of the
current job, and undoes what one job's launch left in the process before the next (a sweep runs jobs one by one).
"""

from __future__ import annotations

import os
import sys

_env_before_ddp: dict | None = None  # this process's environment before a sweep job launched DDP ranks
# The process id of the process that launched the DDP ranks, handed to them in their environment: a rank dies with
# it (die_with_launcher), instead of living on, an orphan holding its memory, when the launcher is killed.
LAUNCHER_ENV = "SIREN_INR_DDP_LAUNCHER"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def relaunch_as(script: str, args: list[str]) -> None:
    """Make `script args` the command line the DDP launcher re-runs for the other ranks (a file Python can run)."""
    sys.argv = [script, *args]


def relaunches_ranks(strategy: str) -> bool:
    """Whether Lightning starts the other ranks by re-running this program (not for spawn, nor when torchrun or
    SLURM started every rank already)."""
    strategy = str(strategy)
    return strategy.startswith("ddp") and "spawn" not in strategy and "LOCAL_RANK" not in os.environ


def reset_after_ddp_job() -> None:
    """Undo what the previous sweep job's DDP launch left in this process: its process group, its rank variables."""
    global _env_before_ddp
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for key in set(os.environ) - set(_env_before_ddp):
        del os.environ[key]  # LOCAL_RANK, MASTER_PORT, ...: left set, the next job would think it is a DDP worker
    _env_before_ddp = None


def prepare_ddp_relaunch(strategy: str, script: str, multirun: bool, job_args: list[str]) -> bool:
    """Before one job's fit: make the command the DDP launcher re-runs for ranks 1..N-1 a single run of this job.

    script: the file the ranks run; job_args: this job's own settings (in a multirun, the ranks must not re-run the
    whole sweep). Returns whether ranks will be re-launched, in which case a multirun caller must also point the
    ranks' output folder at this job's.
    """
    global _env_before_ddp
    if multirun and _env_before_ddp is not None:
        reset_after_ddp_job()
    if not relaunches_ranks(strategy):
        return False
    if multirun:
        _env_before_ddp = dict(os.environ)
    os.environ[LAUNCHER_ENV] = str(os.getpid())
    import __main__

    if getattr(__main__, "__spec__", None) is not None:
        # `python -m siren_inr train ...`: Lightning would re-run the dispatcher without its subcommand;
        # without a spec it re-runs sys.argv[0], the script.
        __main__.__spec__ = None
    if multirun:
        # (A joblib/submitit worker's argv[0] is the launcher's own module, so the script is named explicitly.)
        relaunch_as(script, job_args)
    return True


def die_with_launcher() -> None:
    """In a DDP rank this program launched: be killed (SIGKILL) when the launching process ends, however it ends,
    SIGKILL included (Linux; elsewhere nothing is done). Called first thing by the script the ranks run."""
    launcher = os.environ.get(LAUNCHER_ENV, "")
    rank = os.environ.get("LOCAL_RANK", "0")  # what Lightning's launcher sets for ranks 1..N-1
    if not launcher.isdigit() or rank == "0" or int(launcher) == os.getpid() or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        return
    if os.getppid() != int(launcher):  # the launcher ended before the line above could take effect
        os._exit(1)
