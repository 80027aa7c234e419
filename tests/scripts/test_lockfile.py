"""The lock files and the check `make test` runs before the suite (scripts/lockfile.py)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import lockfile  # noqa: E402

PROJECT = lockfile.LOCKS["project"]


def lock_copy(tmp_path: Path, *, digest: str | None = None, edit=lambda text: text) -> lockfile.Lock:
    text = (ROOT / PROJECT.output).read_text()
    if digest is not None:
        text = re.sub(r"^# input-sha256: .*$", f"# input-sha256: {digest}", text, count=1, flags=re.M)
    path = tmp_path / "requirements.lock"
    path.write_text(edit(text))
    return lockfile.Lock("copy", PROJECT.source, str(path), PROJECT.extras)


def test_it_finds_the_installed_environment_equal_to_the_lock():
    assert lockfile.differences(PROJECT, Path(sys.executable)) == []


def test_it_names_each_package_whose_version_differs(tmp_path):
    lock = lock_copy(tmp_path, edit=lambda text: re.sub(r"^django==\S+", "django==4.0.0", text, flags=re.M))
    problems = lockfile.differences(lock, Path(sys.executable))
    import django

    assert problems == [f"django: locked 4.0.0, installed {django.__version__}"]


def test_it_names_packages_installed_but_not_locked(tmp_path):
    lock = lock_copy(tmp_path, edit=lambda text: re.sub(r"^tqdm==", "not-tqdm==", text, flags=re.M))
    problems = lockfile.differences(lock, Path(sys.executable))
    assert any(p.startswith("tqdm: locked nothing, installed ") for p in problems)
    assert any(p.startswith("not-tqdm: locked ") and p.endswith("installed nothing") for p in problems)


def test_it_finds_a_lock_older_than_pyproject(tmp_path):
    lock = lock_copy(tmp_path, digest="0" * 64)
    assert lockfile.differences(lock, Path(sys.executable)) == [
        f"{lock.output} is older than pyproject.toml: run `make lock-add` (or `make lock`)"]


@pytest.mark.parametrize("lock", lockfile.LOCKS.values(), ids=lambda lock: lock.name)
def test_it_pins_every_locked_package_with_hashes(lock):
    text = (ROOT / lock.output).read_text()
    entries = re.findall(r"^[A-Za-z0-9][^\s=]*==\S+(?: \\\n(?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)?", text, re.M)
    assert len(entries) == len(lockfile.pins(lock)) > 10
    assert all("--hash=sha256:" in entry for entry in entries)


def test_it_bounds_every_direct_dependency_below_its_next_major():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    assert [r for r in requirements if "<" not in r] == []


def test_it_pins_the_bench_mlflow_venv_to_the_projects_scikit_learn():
    project, mlflow = lockfile.pins(PROJECT), lockfile.pins(lockfile.LOCKS["mlflow"])
    assert "mlflow" in mlflow
    assert all(mlflow[name] == project[name] for name in ("scikit-learn", "numpy", "scipy"))
