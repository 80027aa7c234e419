"""The locked environments: compile each lock file from its input with uv, install exactly it,
and check that what is installed is what is locked.

    python scripts/lockfile.py compile [--upgrade] [NAME ...]   # `make lock` / `make lock-add`
    python scripts/lockfile.py install [NAME] [--python PATH]   # `make setup`
    python scripts/lockfile.py check [NAME] [--python PATH]     # `make test` runs it first

Every lock pins every package, transitive ones included, with hashes, and records a digest of
its input, so a dependency added to pyproject.toml without re-locking is caught as well as a
package that drifted in the venv. The bench's own venvs (MLflow) are locked here too, with the
packages that must match the project's own pickles (scikit-learn, numpy) taken from its lock.
Only the standard library is used: this runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
UV = ROOT / ".venv" / "bin" / "uv"
PYTHON_VERSION = "3.11"
DIGEST_LINE = "# input-sha256: "
# Installed by `python -m venv` itself, not by the lock.
SEEDS = frozenset({"pip", "setuptools", "wheel"})


@dataclass(frozen=True)
class Lock:
    name: str
    source: str
    output: str
    extras: tuple[str, ...] = ()
    # Packages pinned to the project lock's versions (pickled pipelines must load there too).
    follow: tuple[str, ...] = ()

    def source_digest(self) -> str:
        path = ROOT / self.source
        if path.suffix == ".toml":
            project = tomllib.loads(path.read_text())["project"]
            text = json.dumps([project.get("dependencies", []),
                               {e: project.get("optional-dependencies", {}).get(e, []) for e in self.extras}],
                              sort_keys=True)
        else:
            text = path.read_text()
        return hashlib.sha256(text.encode()).hexdigest()


LOCKS = {
    lock.name: lock
    for lock in (
        Lock("project", "pyproject.toml", "requirements.lock", extras=("test",)),
        Lock("mlflow", "bench/mlflow.in", "bench/mlflow.lock", follow=("scikit-learn", "numpy", "scipy")),
        # The real MLServer the V2 provider tests call (scripts/setup-mlserver); its model is
        # fitted by its own venv's Python, so nothing needs to follow the project's pins.
        Lock("mlserver", "scripts/mlserver/requirements.in", "scripts/mlserver/requirements.lock"),
    )
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Lock) -> dict[str, str]:
    """name -> version of every package in a lock file."""
    found = {}
    for line in (ROOT / lock.output).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def compile_lock(lock: Lock, *, upgrade: bool) -> None:
    output = ROOT / lock.output
    argv = [str(UV), "pip", "compile", lock.source, "--generate-hashes", "--python-version", PYTHON_VERSION,
            "--quiet", "--custom-compile-command", "make lock", "-o", lock.output]
    argv += [arg for extra in lock.extras for arg in ("--extra", extra)]
    if upgrade:
        argv.append("--upgrade")
    if lock.follow:
        # A fixed path: uv names the constraints file in the lock's annotations, and a temporary
        # name would change the lock on every run.
        constraints = ROOT / "var" / f"lock-{lock.name}-follows-project.txt"
        constraints.parent.mkdir(exist_ok=True)
        project = pins(LOCKS["project"])
        constraints.write_text("".join(f"{name}=={project[name]}\n" for name in lock.follow))
        argv += ["--constraint", str(constraints.relative_to(ROOT))]
    subprocess.run(argv, cwd=ROOT, check=True)
    text = output.read_text()
    text = re.sub(rf"^{re.escape(DIGEST_LINE)}.*\n", "", text, flags=re.M)
    output.write_text(f"{DIGEST_LINE}{lock.source_digest()}\n{text}")
    print(f"{lock.output}: {len(pins(lock))} packages")


def _uv_requirement(lock: Lock) -> str:
    """The lock's own uv entry with its hashes, for pip to install uv before uv installs the rest."""
    lines, taking = [], False
    for line in (ROOT / lock.output).read_text().splitlines():
        if re.match(r"^uv==", line):
            taking = True
        elif taking and not line.startswith(" "):
            break
        if taking and not line.strip().startswith("#"):
            lines.append(line)
    if not lines:
        sys.exit(f"{lock.output} holds no uv pin")
    return "\n".join(lines) + "\n"


def install(lock: Lock, python: Path) -> None:
    if lock.name == "project" and not UV.exists():
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirement:
            requirement.write(_uv_requirement(lock))
            requirement.flush()
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--require-hashes",
                            "--no-deps", "-r", requirement.name], check=True)
    # sync, not install: packages the lock does not name are removed.
    subprocess.run([str(UV), "pip", "sync", "--quiet", "--require-hashes", "--python", str(python),
                    lock.output], cwd=ROOT, check=True, env={**os.environ, "VIRTUAL_ENV": ""})


def installed(python: Path) -> dict[str, str]:
    code = ("import importlib.metadata as m, json; "
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    found = json.loads(subprocess.run([str(python), "-c", code], check=True, capture_output=True,
                                      text=True).stdout)
    return {normalize(name): version for name, version in found.items()}


def differences(lock: Lock, python: Path) -> list[str]:
    """What differs between the venv and the lock, one line per package, plus a stale lock."""
    problems = []
    recorded = (ROOT / lock.output).read_text().splitlines()[0].removeprefix(DIGEST_LINE)
    if recorded != lock.source_digest():
        problems.append(f"{lock.output} is older than {lock.source}: run `make lock-add` (or `make lock`)")
    locked, present = pins(lock), installed(python)
    for name in sorted(locked.keys() | (present.keys() - SEEDS)):
        want, have = locked.get(name), present.get(name)
        if want != have:
            problems.append(f"{name}: locked {want or 'nothing'}, installed {have or 'nothing'}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["compile", "install", "check"])
    parser.add_argument("names", nargs="*", help="locks (default: all for compile, project otherwise)")
    parser.add_argument("--upgrade", action="store_true", help="re-resolve to the newest allowed versions")
    parser.add_argument("--python", type=Path, default=VENV_PYTHON, help="the venv's python")
    args = parser.parse_args()
    names = args.names or (list(LOCKS) if args.command == "compile" else ["project"])
    for name in names:
        lock = LOCKS[name]
        if args.command == "compile":
            compile_lock(lock, upgrade=args.upgrade)
        elif args.command == "install":
            install(lock, args.python)
        else:
            problems = differences(lock, args.python)
            if problems:
                sys.exit(f"The environment differs from {lock.output} (`make setup` installs it):\n  "
                         + "\n  ".join(problems))
            print(f"{lock.output}: the environment matches ({len(pins(lock))} packages)")


if __name__ == "__main__":
    main()
