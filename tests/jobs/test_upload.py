"""Storing an upload while its chunks are scored: a file of several chunks is queued chunk by
chunk as it is stored, and its job cannot finish, nor fail for its error rate, before the
last chunk is stored; a file that breaks off or passes a limit on the way leaves its job
failed with no input kept, and one whose upload died is failed by the watchdog."""

from __future__ import annotations

import gzip
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Job, JobChunk
from predictions.models import PredictionLog
from tests.jobs.conftest import lead_csv, upload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_worker(monkeypatch):
    """Each chunk scored the moment it is queued, as by a worker faster than the upload;
    what the job looked like at each queueing is kept."""
    seen: list[tuple[bool, str, int, int]] = []

    def dispatch(chunk_ids):
        for chunk_id in chunk_ids:
            job = Job.objects.get(chunks__pk=chunk_id)
            services.chunk_score(chunk_id=chunk_id)
            after = Job.objects.get(pk=job.pk)
            seen.append((job.uploading, after.status, after.rows_done, after.rows_total))

    monkeypatch.setattr(services, "chunks_dispatch", dispatch)
    return seen


def test_it_queues_each_chunk_as_it_is_stored_and_finishes_only_after_the_last(api, builtin_models_restored,
                                                                               settings, fast_worker):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 10}
    response = upload(api, lead_csv(35, bad_every=5), idColumn="lead_id")  # 7 bad rows: 20 %, over 5 %
    assert response.status_code == 202, response.content
    # Every chunk was scored while the upload went on, and no answer came before the last
    # one was stored: neither success (all stored chunks done) nor the error rate's failure.
    assert [s[0] for s in fast_worker] == [True, True, True, True]
    assert [s[1:] for s in fast_worker] == [("running", 8, 10), ("running", 16, 20), ("running", 24, 30),
                                            ("running", 28, 35)]
    job = response.json()
    assert (job["status"], job["rowsTotal"], job["rowsDone"], job["rowsFailed"]) == ("failed", 35, 28, 7)
    assert "maxErrorRate" in job["error"]


def test_it_succeeds_when_its_chunks_were_all_scored_before_the_upload_ended(api, builtin_models_restored,
                                                                              settings, fast_worker):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 10}
    job = upload(api, lead_csv(25), idColumn="lead_id", objectType="lead").json()
    assert (job["status"], job["rowsTotal"], job["rowsDone"]) == ("succeeded", 25, 25)
    results = b"".join(api.get(job["resultsUrl"]).streaming_content).decode().splitlines()
    assert [line.split(",")[0] for line in results[1:]] == [f"L-{i}" for i in range(25)]
    assert PredictionLog.objects.filter(object_type="lead").count() == 25


@pytest.mark.parametrize(("limits", "data", "status", "code"), [
    # A truncated download: read (and chunked) a megabyte at a time, it breaks after 20,000 rows.
    ({"JOB_CHUNK_ROWS": 5000}, gzip.compress(lead_csv(60000))[:-600], 400, "unreadable_file"),
    ({"JOB_CHUNK_ROWS": 5000, "JOB_MAX_ROWS": 30000}, lead_csv(60000), 413, "file_too_large"),
])
def test_it_fails_a_job_whose_file_breaks_off_after_chunks_were_queued(api, builtin_models_restored, settings,
                                                                      fast_worker, limits, data, status, code):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 10, **limits}
    assert len(data) < settings.HOTCRM["JOB_MAX_BYTES"]
    response = upload(api, data, name="leads.csv.gz" if data[:2] == b"\x1f\x8b" else "leads.csv")
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert fast_worker  # chunks were queued and scored before the break
    (job,) = api.get("/api/v1/jobs/").json()["results"]
    assert job["status"] == "failed" and job["error"].startswith("The upload stopped after ")
    assert job["resultsUrl"] is None and api.get(f"/api/v1/jobs/{job['id']}/results/").status_code == 409
    assert not any(bytes(c.input) for c in JobChunk.objects.filter(job_id=job["id"]))


def test_it_fails_a_job_whose_upload_died(api, builtin_models_restored, settings, monkeypatch):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 10, "JOB_STALL_SECONDS": 60}
    monkeypatch.setattr(services, "chunks_dispatch", lambda ids: None)
    job = upload(api, lead_csv(30)).json()
    Job.objects.filter(pk=job["id"]).update(uploading=True, progressed_at=timezone.now() - timedelta(seconds=30))
    services.jobs_requeue_stalled()
    assert Job.objects.get(pk=job["id"]).status == "queued"  # quiet, but not for long enough
    Job.objects.filter(pk=job["id"]).update(progressed_at=timezone.now() - timedelta(seconds=61))
    services.jobs_requeue_stalled()
    failed = Job.objects.get(pk=job["id"])
    assert failed.status == "failed" and "upload stopped" in failed.error
    assert not any(bytes(c.input) for c in JobChunk.objects.filter(job_id=job["id"]))


def test_it_stops_storing_a_file_whose_job_was_cancelled_during_the_upload(api, builtin_models_restored, settings,
                                                                         monkeypatch):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 10}

    def cancel_at_once(chunk_ids):  # a staff member cancels the job as its first chunk is queued
        services.job_cancel(job=Job.objects.get(chunks__pk=chunk_ids[0]))

    monkeypatch.setattr(services, "chunks_dispatch", cancel_at_once)
    job = upload(api, lead_csv(100)).json()
    assert (job["status"], job["rowsTotal"], job["rowsDone"]) == ("cancelled", 10, 0)
    assert JobChunk.objects.filter(job_id=job["id"]).count() == 1
    assert not any(bytes(c.input) for c in JobChunk.objects.filter(job_id=job["id"]))
