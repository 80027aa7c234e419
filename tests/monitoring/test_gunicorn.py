"""The service under gunicorn with several workers: exact counts across processes, and no
metric lost on a normal shutdown. Runs on its own SQLite file (it needs committed data that
separate processes can see, which the test database's transaction would hide)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring.support import CHURN

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
N = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory, django_db_setup):
    """A migrated SQLite file with the built-in models and a token, shared by the servers."""
    from conftest import _builtin_fixture_path

    var = tmp_path_factory.mktemp("gunicorn-var")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env |= {"HOTCRM_VAR_DIR": str(var), "SECRET_KEY": settings.SECRET_KEY,
            "CACHE_KEY_PREFIX": f"{settings.CACHE_KEY_PREFIX}-gunicorn", "LOG_LEVEL": "WARNING"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "loaddata", str(_builtin_fixture_path()), "-v", "0"], env=env, check=True, cwd=ROOT)
    out = subprocess.run([*manage, "create_api_token", "gunicorn-test"], env=env, check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    yield {"env": env, "db": var / "db.sqlite3", "token": out.strip().splitlines()[-1], "var": var}
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match=f"{env['CACHE_KEY_PREFIX']}:*"):
            client.delete(key)


class Server:
    def __init__(self, site: dict, **env: str) -> None:
        self.port = _free_port()
        self.prom = site["var"] / f"prometheus-{self.port}"
        self.prom.mkdir()
        self.env = site["env"] | {"PROMETHEUS_MULTIPROC_DIR": str(self.prom)} | env
        self.log_path = self.prom.parent / f"gunicorn-{self.port}.log"
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(WORKERS),
             # Import the app once in the master, not once per worker: a quicker start.
             "--preload"],
            env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log_file,
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120,
                                   headers={"Authorization": f"Token {site['token']}"})
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log()[-2000:]}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not become ready")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def predict_many(self, n: int, model_id: str = "churn-prediction-v1") -> None:
        def one(i: int) -> int:
            # a fresh connection per request, so the requests spread over the workers
            with httpx.Client(base_url=str(self.client.base_url), headers=self.client.headers, timeout=120) as c:
                body = {"modelId": model_id, "features": CHURN | {"account_age": 1 + i % 200}}
                return c.post("/api/v1/predictions/", json=body).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            assert list(pool.map(one, range(n))) == [200] * n

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
            self.process.wait(timeout=60)
        self.log_file.close()


def _stored(db: Path, model_id: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM monitoring_metric WHERE model_id = ?", (model_id,)).fetchone()[0]


def _prometheus_total(text: str, model_id: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "hotcrm_predictions_total" and s.labels["model"] == model_id)


def _prometheus_latency_count(text: str, model_id: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "hotcrm_prediction_latency_seconds_count" and s.labels["model"] == model_id)


def test_it_counts_exactly_across_gunicorn_workers(site):
    server = Server(site)
    try:
        server.predict_many(N)
        rows = [CHURN | {"account_age": 1 + i} for i in range(200)]
        for _ in range(2):  # 400 predictions, 2 requests: latency is observed twice
            body = {"modelId": "churn-prediction-v1", "features": rows, "useCache": False}
            assert server.client.post("/api/v1/predictions/batch/", json=body).status_code == 200
        served_by = {p.name.split("_")[-1] for p in server.prom.glob("counter_*.db")}
        assert len(served_by) >= 2, "the requests should have been spread over several workers"
        # Each worker stores its buffer within METRICS_FLUSH_INTERVAL (0.25 s) of a record.
        time.sleep(1.0)
        stats = server.client.get("/api/v1/models/churn-prediction-v1/stats/").json()
        assert stats["totalPredictions"] == N + 400
        assert stats["successfulPredictions"] == N + 400
        assert server.client.get("/api/v1/stats/").json()["churn-prediction-v1"]["totalPredictions"] == N + 400
        text = server.client.get("/metrics").text
        assert _prometheus_total(text, "churn-prediction-v1") == N + 400
        assert _prometheus_latency_count(text, "churn-prediction-v1") == N + 2
    finally:
        server.stop()


def test_it_loses_no_buffered_metric_on_a_normal_shutdown(site):
    # Buffers that would never flush on their own: only the shutdown can store them.
    server = Server(site, METRICS_FLUSH_INTERVAL="3600", METRICS_BUFFER_SIZE="100000")
    before = _stored(site["db"], "lead-scoring-v1")
    lead = "lead-scoring-v1"
    try:
        def one(i: int) -> int:
            with httpx.Client(base_url=str(server.client.base_url), headers=server.client.headers, timeout=120) as c:
                features = {"company_size": 10 + i, "industry": "Retail", "engagement_score": 40,
                            "job_title": "Manager", "budget": 1000}
                return c.post("/api/v1/predictions/", json={"modelId": lead, "features": features}).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            assert list(pool.map(one, range(30))) == [200] * 30
        assert _stored(site["db"], lead) == before  # still buffered in the workers
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert _stored(site["db"], lead) == before + 30
