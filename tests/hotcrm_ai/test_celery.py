"""Celery for real: a task sent on the configured broker (the filesystem transport under
var/ by default, REDIS_URL's Redis when set) runs on a separate worker process, and
`make run` (scripts/run-service) starts a worker beside gunicorn and stops it with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.servers import ROOT, free_port, wait_for_port
from tests.hotcrm_ai.celery_probe import probe_touch

pytestmark = pytest.mark.slow
CELERY = str(Path(sys.executable).parent / "celery")


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def test_it_runs_a_task_on_a_separate_worker_process(tmp_path):
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [CELERY, "-A", "hotcrm_ai", "worker", "--pool", "solo", "--include", "tests.hotcrm_ai.celery_probe",
         "--without-mingle", "--without-gossip", "--hostname", f"probe-{os.getpid()}@%h"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        marker = tmp_path / "ran"
        probe_touch.delay(str(marker))
        wait_for(marker.exists, 90, "the worker did not run the task: " + (tmp_path / "worker.log").read_text()[-2000:])
        assert int(marker.read_text()) != os.getpid()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)


def test_it_starts_a_worker_with_the_service_and_stops_it_with_the_service(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"HOTCRM_VAR_DIR": str(tmp_path / "var"), "PORT": str(port), "WORKERS": "1",
            "CACHE_KEY_PREFIX": f"hotcrm-run-{port}", "VENV": str(Path(sys.executable).parent.parent)}
    service = subprocess.Popen(["bash", "scripts/run-service"], cwd=ROOT, env=env, start_new_session=True,
                               stdout=(tmp_path / "run.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=90)
        wait_for(lambda: "celery" in _descendants(service.pid), 60, "no Celery worker was started")
        assert "gunicorn" in _descendants(service.pid)
        service.send_signal(signal.SIGTERM)
        service.wait(60)
        wait_for(lambda: not _group_alive(service.pid), 30, "the worker outlived the service")
    finally:
        if _group_alive(service.pid):
            os.killpg(service.pid, signal.SIGKILL)


def _descendants(pid: int) -> str:
    """The command lines of every process below pid, as one string."""
    out = subprocess.run(["ps", "-ww", "-o", "pid=,ppid=,args=", "-e"], capture_output=True, text=True).stdout
    children: dict[int, list[tuple[int, str]]] = {}
    for line in out.splitlines():
        child, parent, args = line.split(None, 2) + [""] * (3 - len(line.split(None, 2)))
        children.setdefault(int(parent), []).append((int(child), args))
    found, stack = [], [pid]
    while stack:
        for child, args in children.get(stack.pop(), []):
            found.append(args)
            stack.append(child)
    return "\n".join(found)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
