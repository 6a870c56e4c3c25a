"""A regular wheel (not editable) carries the catalogue, traces, scenarios, sweeps and
notebooks, and runs from a directory outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        pytest.skip("not a git checkout: the wheel is built from the tracked files")
    return [f for f in out.stdout.splitlines() if (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built offline from a copy of the tracked files."""
    src = tmp_path_factory.mktemp("src")
    for f in _tracked_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "-w", str(out),
                    str(src)], check=True)
    (whl,) = out.glob("amxmodel-*.whl")
    return whl


def test_the_wheel_ships_data_and_notebooks(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for tracked in _tracked_files():
        top, _, rest = tracked.partition("/")
        if top in ("data", "notebooks") and rest != "__init__.py":
            assert f"amxmodel/{top}/{rest}" in names, tracked
    assert "amxmodel/data/parameters.yaml" in names
    assert "amxmodel/notebooks/01_sync_overhead.ipynb" in names


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    """A new virtual environment with the wheel installed; dependencies come from this
    environment's site-packages through a .pth line (no network, no editable finder)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--disable-pip-version-check", str(wheel)], check=True)
    return venv


def _amxmodel(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMXMODEL_DATA")}
    return subprocess.run([str(venv / "bin" / "amxmodel"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


def test_the_installed_wheel_runs_a_scenario_from_another_directory(fresh_venv, tmp_path):
    code = ("import amxmodel, amxmodel.common.datafiles as d; print(amxmodel.__file__); "
            "print(d.data_dir()); print(d.notebooks_dir()); print(d.checkout_dir())")
    where = subprocess.run([str(fresh_venv / "bin" / "python"), "-c", code],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split("\n")
    assert all(str(fresh_venv) in line for line in where[:3]), where
    assert where[3] == "None"  # no checkout behind an installed wheel
    res = _amxmodel(fresh_venv, tmp_path, "run", "--set", "fleet.hosts=4", "--set", "run.steps=5",
                    "--policy", "upstream", "--format", "json", "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert '"upstream"' in res.stdout
    assert (tmp_path / "out" / "summary.parquet").is_file()
    res = _amxmodel(fresh_venv, tmp_path, "replay", "amx_test", "--policy", "upstream")
    assert res.returncode == 0 and "upstream" in res.stdout, res.stderr
    res = _amxmodel(fresh_venv, tmp_path, "params", "--format", "csv")
    assert res.returncode == 0 and "rdmsr_xfd_cycles" in res.stdout
