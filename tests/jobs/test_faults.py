"""Faults mid-job, against the service under gunicorn and real Celery worker processes, each
run on its own database and broker (never the machine's shared ones): a worker killed with
SIGKILL, the broker (Redis) restarted, PostgreSQL restarted. Every time the job succeeds and
every row is scored, logged and counted exactly once.

Embedded run: SQLite under the test's own var/ and the filesystem broker (Redis for the Redis
test). PostgreSQL run: the test's own PostgreSQL and Redis, two workers."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.servers import ROOT, AppServer, PostgresServer, RedisServer
from tests.jobs.conftest import lead_csv

pytestmark = pytest.mark.slow
ON_POSTGRESQL = bool(os.environ.get("DATABASE_URL"))
ROWS = 6000
FAST_RECOVERY = {"JOB_CHUNK_ROWS": "250", "JOB_STALL_SECONDS": "4", "JOB_WATCHDOG_INTERVAL": "1",
                 "JOB_HEARTBEAT_SECONDS": "0.5", "JOB_HEARTBEAT_TIMEOUT": "3",
                 "CELERY_VISIBILITY_TIMEOUT": "8", "CELERY_POLLING_INTERVAL": "0.1"}


class Worker:
    """`celery -A hotcrm_ai worker` in its own process group, beside the app server."""

    def __init__(self, app: AppServer, name: str, *, beat: bool = False) -> None:
        self.app, self.name, self.beat = app, name, beat
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        # As `make run` starts it: the prefork pool, one child process doing the work.
        args = [str(Path(sys.executable).parent / "celery"), "-A", "hotcrm_ai", "worker", "--concurrency", "1",
                "--hostname", f"{self.name}@%h", "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
        if self.beat:
            args += ["--beat", "--schedule", str(self.app.dir / f"beat-{self.name}")]
        log = (self.app.dir / f"worker-{self.name}.log").open("ab")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.app.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


class Setup:
    """The app, its database, broker and workers for one fault test."""

    def __init__(self, tmp_path: Path, fixture: Path, secret_key: str, *, redis: bool,
                 env: dict[str, str] | None = None) -> None:
        self.pg = PostgresServer(tmp_path).init().start() if ON_POSTGRESQL else None
        self.redis = RedisServer(tmp_path).start() if (redis or ON_POSTGRESQL) else None
        env = FAST_RECOVERY | (env or {})
        if self.pg:
            env["DATABASE_URL"] = self.pg.url
        self.app = AppServer(tmp_path, secret_key=secret_key, fixture=fixture, extra_env=env,
                             redis_url=self.redis.url if self.redis else "")
        self.key = self.app.prepare()
        self.app.start()
        self.workers = [Worker(self.app, "w1", beat=True).start()]
        if ON_POSTGRESQL:
            self.workers.append(Worker(self.app, "w2").start())

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.app.stop()
        if self.redis:
            self.redis.stop()
        if self.pg:
            self.pg.remove()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.app.dir.glob("worker-*.log"))

    def submit(self, http, rows: int = ROWS) -> str:
        files = {"file": ("leads.csv", lead_csv(rows), "text/csv")}
        response = http.post("/api/v1/jobs/", files=files, data={"modelId": "lead-scoring-v1", "idColumn": "lead_id",
                                                                 "objectType": "lead"})
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def wait(self, http, job_id: str, until, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                body = http.get(f"/api/v1/jobs/{job_id}/").json()
            except Exception:  # the app server may answer 503 while its database restarts
                body = {}
            if until(body):
                return body
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id}: {body}\n{self.logs()}")

    def count(self, sql: str) -> int:
        if self.pg:
            import psycopg

            with psycopg.connect(self.pg.url.replace("postgres://", "postgresql://")) as conn:
                return conn.execute(sql).fetchone()[0]
        with sqlite3.connect(self.app.dir / "var" / "db.sqlite3") as conn:
            return conn.execute(sql).fetchone()[0]

    def assert_every_row_once(self, http, job_id: str) -> None:
        body = self.wait(http, job_id, lambda b: b.get("status") in ("succeeded", "failed", "cancelled"))
        assert body["status"] == "succeeded", f"{body}\n{self.logs()}"
        assert (body["rowsDone"], body["rowsFailed"]) == (ROWS, 0)
        results = list(csv.DictReader(io.StringIO(http.get(body["resultsUrl"]).text)))
        assert [r["lead_id"] for r in results] == [f"L-{i}" for i in range(ROWS)]
        assert self.count("SELECT COUNT(*) FROM predictions_predictionlog WHERE object_type = 'lead'") == ROWS
        assert self.count("SELECT COUNT(DISTINCT object_id) FROM predictions_predictionlog") == ROWS
        assert self.count("SELECT SUM(rows) FROM monitoring_metric WHERE model_id = 'lead-scoring-v1'") == ROWS


@pytest.fixture
def setup_for(tmp_path, builtin_fixture, secret_key):
    made: list[Setup] = []

    def make(*, redis: bool = False, env: dict[str, str] | None = None) -> Setup:
        made.append(Setup(tmp_path, builtin_fixture, secret_key, redis=redis, env=env))
        return made[-1]

    yield make
    for setup in made:
        setup.close()


def started(body: dict) -> bool:
    return 0 < body.get("rowsDone", 0) < ROWS // 2


def test_it_scores_every_row_once_when_a_worker_is_killed_mid_job(setup_for):
    # A chunk the killed worker had started comes back because its heartbeat stopped (seconds);
    # its task message, and one it had taken but not started (no heartbeat yet), are delivered
    # again by the broker: Redis after CELERY_VISIBILITY_TIMEOUT, the filesystem broker once a
    # live worker sees the claim's owner is dead (hotcrm_ai/broker.py; here the restarted
    # worker, at its first poll). The stall watchdog is kept out of the way, so it cannot be
    # what saved the job.
    s = setup_for(env={"JOB_STALL_SECONDS": "600"})
    with s.app.client(s.key) as http:
        job_id = s.submit(http)
        s.wait(http, job_id, started)
        victim = s.workers[-1]
        victim.kill()  # SIGKILL: no chance to hand its chunk back
        if not ON_POSTGRESQL:  # the only worker: its supervisor (make run, systemd) starts it again
            s.workers.append(Worker(s.app, "w1-again", beat=True).start())
        s.assert_every_row_once(http, job_id)


def test_it_scores_every_row_once_when_redis_restarts_mid_job(setup_for):
    s = setup_for(redis=True)
    with s.app.client(s.key) as http:
        job_id = s.submit(http)
        s.wait(http, job_id, started)
        s.redis.stop()  # killed, and it keeps nothing: queued tasks are gone
        time.sleep(2)
        s.redis.start()
        s.assert_every_row_once(http, job_id)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL only: the PostgreSQL run restarts its own server")
def test_it_scores_every_row_once_when_postgresql_restarts_mid_job(setup_for):
    s = setup_for()
    with s.app.client(s.key) as http:
        job_id = s.submit(http)
        s.wait(http, job_id, started)
        s.pg.stop()
        time.sleep(2)
        s.pg.start()
        s.assert_every_row_once(http, job_id)
