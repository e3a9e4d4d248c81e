"""What a run needs to be redone: code version, package versions, machine."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
from pathlib import Path

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
    tags = {"git_commit": commit, "git_dirty": str(dirty).lower() if dirty is not None else "unknown",
            "mlflow.source.git.commit": commit, "host": socket.gethostname(), "python": platform.python_version()}
    tags.update({f"versions.{name}": version for name, version in package_versions().items()})
    if device:
        tags["device"] = device
    return tags
