"""The built wheel carries the package and its configs: a non-editable install fits from any folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "siren_inr").rglob("__init__.py")}
    assert listed == on_disk | {"siren_inr.conf"}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_installs_and_trains_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(ROOT)], check=True, cwd=tmp_path, timeout=600)
    wheels = list(dist.glob("siren_inr-*.whl"))
    assert len(wheels) == 1
    import zipfile

    import siren_inr

    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        metadata = next(wheel.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "siren_inr/py.typed" in names and any(n.endswith(".dist-info/licenses/LICENSE") or
                                                  n.endswith(".dist-info/LICENSE") for n in names)
    assert f"\nVersion: {siren_inr.__version__}\n" in metadata  # the one version, siren_inr.__version__
    # The dependencies (torch, mlflow, ...) come from this interpreter's site-packages; siren-inr from the wheel.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    str(wheels[0])], check=True, timeout=600)
    work = tmp_path / "empty folder"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    where = subprocess.run([str(python), "-c", "import siren_inr, siren_inr.conf; print(siren_inr.__file__); "
                            "print(siren_inr.conf.__file__)"], cwd=work, env=env, capture_output=True, text=True,
                           check=True)
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to(env_dir.resolve()), where.stdout  # not the checkout
    result = subprocess.run([str(env_dir / "bin" / "siren-inr"), "train", "data.sidelength=16", "num_epochs=3",
                             "progress=none"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    db = work / "mlruns" / "mlflow.db"
    assert db.is_file()
    with sqlite3.connect(db) as connection:
        statuses = [row[0] for row in connection.execute("select status from runs")]
    assert statuses == ["FINISHED"]
    assert "final psnr" in result.stdout
