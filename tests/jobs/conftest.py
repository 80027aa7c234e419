"""Jobs run for real: a Celery worker (a thread of this process, on the configured broker:
the filesystem transport under var/ or REDIS_URL's Redis) takes the chunks from the broker
and scores them against the test database."""

from __future__ import annotations

import io
import time

import pytest

LEAD_HEADER = "lead_id,company_size,industry,engagement_score,job_title,budget"


def lead_csv(n: int, *, bad_every: int = 0, start: int = 0) -> bytes:
    lines = [LEAD_HEADER]
    industries = ["Technology", "Finance", "Healthcare", "Retail", "Education"]
    for i in range(start, start + n):
        engagement = "not-a-number" if bad_every and i % bad_every == bad_every - 1 else str(i % 101)
        lines.append(f"L-{i},{10 + i % 5000},{industries[i % 5]},{engagement},VP of Sales,{1000 * (i % 300)}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def builtin_models_restored(transactional_db):
    """Jobs tests commit (the worker has its own connection), so Django empties the database
    after each (pytest-django runs such tests after all others): the models come back here."""
    from tests.monitoring.support import ensure_builtin_models

    ensure_builtin_models()


@pytest.fixture
def celery_worker(builtin_models_restored):
    from celery.contrib.testing.worker import start_worker

    from hotcrm_ai.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
        yield


def upload(api, data: bytes, *, name: str = "leads.csv", **fields):
    file = io.BytesIO(data)
    file.name = name
    return api.post("/api/v1/jobs/", {"file": file, "modelId": "lead-scoring-v1", **fields}, format="multipart")


def wait_for_job(api, job_id: str, *, until=("succeeded", "failed", "cancelled"), timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/api/v1/jobs/{job_id}/").json()
        assert "status" in body, body
        if body["status"] in until:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"job still {body}")
        time.sleep(0.2)
