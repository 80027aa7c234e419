"""Helpers of the jobs tests; jobs run for real on the root conftest's `celery_worker`."""

from __future__ import annotations

import io
import time

import pytest  # noqa: F401

from tests.faults.conftest import builtin_fixture, secret_key  # noqa: F401  (fixtures for test_faults)

LEAD_HEADER = "lead_id,company_size,industry,engagement_score,job_title,budget"


def lead_csv(n: int, *, bad_every: int = 0, start: int = 0) -> bytes:
    lines = [LEAD_HEADER]
    industries = ["Technology", "Finance", "Healthcare", "Retail", "Education"]
    for i in range(start, start + n):
        engagement = "not-a-number" if bad_every and i % bad_every == bad_every - 1 else str(i % 101)
        lines.append(f"L-{i},{10 + i % 5000},{industries[i % 5]},{engagement},VP of Sales,{1000 * (i % 300)}")
    return ("\n".join(lines) + "\n").encode()


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
