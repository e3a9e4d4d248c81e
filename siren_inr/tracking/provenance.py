"""What a run needs to be redone (code version, package versions, machine) and which process writes it."""

from __future__ import annotations

import getpass
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from siren_inr.names import (BOOT_TAG, DEVICE_TAG, GIT_COMMIT_TAG, GIT_DIRTY_TAG, HOST_TAG, MACHINE_TAG,
                             MLFLOW_GIT_COMMIT_TAG, PID_TAG, PYTHON_TAG, SOURCE_NAME_TAG, SOURCE_TYPE_TAG, START_TAG,
                             USER_TAG, VERSIONS_TAG_PREFIX)

PACKAGES = ("siren-inr", "torch", "pytorch-lightning", "torchmetrics", "mlflow", "hydra-core", "omegaconf",
            "numpy", "scikit-image", "pillow")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide a run's numbers."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_state(path: str | Path | None = None) -> tuple[str, bool | None]:
    """(commit, dirty) of the git checkout holding the package; ('unknown', None) outside one."""
    where = Path(path) if path else Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def provenance_tags(device: str | None = None) -> dict[str, str]:
    """Tags recorded on every run: git commit and dirtiness, package versions, host, python, device."""
    commit, dirty = git_state()
    tags = {GIT_COMMIT_TAG: commit, GIT_DIRTY_TAG: str(dirty).lower() if dirty is not None else "unknown",
            MLFLOW_GIT_COMMIT_TAG: commit, MACHINE_TAG: socket.gethostname(), PYTHON_TAG: platform.python_version()}
    tags.update({f"{VERSIONS_TAG_PREFIX}{name}": version for name, version in package_versions().items()})
    if device:
        tags[DEVICE_TAG] = device
    return tags


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (the command) may hold spaces and parentheses; the fields after its last ')' are plain.
    return stat[stat.rindex(")") + 2:].split()


def process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (Linux /proc), None where unknown."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22 of stat(5)
    except (IndexError, ValueError):
        return None


def process_tags() -> dict[str, str]:
    """Tags of the current process: host, pid, start time and boot id; also MLflow's source name and user."""
    pid = os.getpid()
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(pid)}
    start, boot = process_start_ticks(pid), _boot_id()
    if start is not None:
        tags[START_TAG] = str(start)
    if boot:
        tags[BOOT_TAG] = boot
    tags[SOURCE_NAME_TAG] = " ".join([Path(sys.argv[0]).name or "python", *sys.argv[1:]])[:500]
    tags[SOURCE_TYPE_TAG] = "LOCAL"
    try:
        tags[USER_TAG] = getpass.getuser()
    except (KeyError, OSError):
        pass
    return tags


def run_process_alive(tags: dict[str, str]) -> bool | None:
    """Whether the process that writes a run (by its process.* tags) still runs.

    True: alive; False: gone (same host, and the pid no longer exists, was reused by a younger process, or
    the machine rebooted since); None: cannot tell (another host, or a run recorded without these tags).
    """
    if tags.get(HOST_TAG) != socket.gethostname():
        return None
    try:
        pid = int(tags[PID_TAG])
    except (KeyError, ValueError):
        return None
    boot = _boot_id()
    if tags.get(BOOT_TAG) and boot and tags[BOOT_TAG] != boot:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    fields = _stat_fields(pid)
    if fields and fields[0] in ("Z", "X"):  # exited, not yet reaped by its parent
        return False
    if tags.get(START_TAG):
        start = process_start_ticks(pid)
        if start is not None and str(start) != tags[START_TAG]:
            return False  # the pid now belongs to another process
    return True
