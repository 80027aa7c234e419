"""Retention: exactly the rows past their window go (log rows at PREDICTION_LOG_RETENTION_DAYS,
rows with an outcome at OUTCOME_RETENTION_DAYS, finished jobs at JOB_RETENTION_DAYS), in
batches, by the scheduled task as by the command."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Job, JobChunk, JobRowError, JobStatus
from predictions.models import PredictionLog
from privacy.services import expired_purge
from tests.privacy.conftest import log_row

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)


def ages(now, days: int) -> tuple:
    return now - timedelta(days=days) + MINUTE, now - timedelta(days=days) - MINUTE


def test_it_removes_exactly_the_rows_past_each_window():
    now = timezone.now()
    inside, outside = ages(now, 90)
    outcome_inside, outcome_outside = ages(now, 365)
    kept = [log_row(created_at=inside, object_id="kept-log"),
            log_row(created_at=outside, object_id="kept-outcome", actual="hot"),
            log_row(created_at=now - timedelta(days=200), object_id="kept-outcome-200", actual="cold"),
            log_row(created_at=outcome_inside, object_id="kept-outcome-365", actual=1),
            log_row(created_at=now, object_id="new")]
    for n in range(7):  # more than a batch, interleaved with kept outcome rows
        log_row(created_at=outside - timedelta(days=n), object_id=f"old-{n}")
    log_row(created_at=outcome_outside, object_id="old-outcome", actual="hot")

    result = expired_purge(now=now, batch_rows=2, pause=0)

    assert result.removed == {"predictionLogs": 7, "outcomeLogs": 1, "jobs": 0}
    assert result.batches == 5  # 2+2+2+1 log rows, 1 outcome row
    assert set(PredictionLog.objects.values_list("pk", flat=True)) == {row.pk for row in kept}


def test_it_follows_the_settings(monkeypatch):
    now = timezone.now()
    monkeypatch.setitem(settings.HOTCRM, "PREDICTION_LOG_RETENTION_DAYS", 7)
    monkeypatch.setitem(settings.HOTCRM, "OUTCOME_RETENTION_DAYS", 30)
    log_row(created_at=now - timedelta(days=8))
    log_row(created_at=now - timedelta(days=8), object_id="o", actual="hot")
    log_row(created_at=now - timedelta(days=31), object_id="o2", actual="hot")
    assert expired_purge(now=now, pause=0).removed == {"predictionLogs": 1, "outcomeLogs": 1, "jobs": 0}
    assert list(PredictionLog.objects.values_list("object_id", flat=True)) == ["o"]


def _job(finished_days_ago: float | None, status: str = JobStatus.SUCCEEDED) -> Job:
    now = timezone.now()
    job = Job.objects.create(model_id="lead-scoring-v1", input_format="csv", created_by="t", status=status,
                             finished_at=None if finished_days_ago is None else now - timedelta(days=finished_days_ago),
                             created_at=now - timedelta(days=60))
    for index in range(3):
        JobChunk.objects.create(job=job, index=index, first_row=1, row_count=1, input=b"", output=b"L-1,hot\n",
                                done_at=now)
    JobRowError.objects.create(job=job, row=1, object_id="L-1", code="x", message="x")
    return job


def test_it_removes_finished_jobs_past_their_retention_with_results_and_errors():
    old, recent = _job(31), _job(29)
    old_failed = _job(45, JobStatus.FAILED)
    running = _job(None, JobStatus.RUNNING)  # created 60 days ago, still running: kept
    result = expired_purge(batch_rows=1000, pause=0)
    assert result.removed["jobs"] == 2
    assert set(Job.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not JobChunk.objects.filter(job_id__in=[old.pk, old_failed.pk]).exists()
    assert not JobRowError.objects.filter(job_id__in=[old.pk, old_failed.pk]).exists()
    assert JobChunk.objects.filter(job=recent).count() == 3


def test_the_scheduled_task_and_the_command_apply_it():
    from hotcrm_ai.celery import app
    from privacy.tasks import purge_expired

    entry = settings.CELERY_BEAT_SCHEDULE["privacy-purge-expired"]
    assert entry["task"] == "privacy.purge_expired" and "privacy.purge_expired" in app.tasks
    now = timezone.now()
    log_row(created_at=now - timedelta(days=91))
    assert purge_expired() == {"predictionLogs": 1, "outcomeLogs": 0, "jobs": 0}
    log_row(created_at=now - timedelta(days=91))
    out = io.StringIO()
    call_command("purge_expired", "--pause", "0", stdout=out)
    assert "1 removed (predictionLogs 1, outcomeLogs 0, jobs 0)" in out.getvalue()
    assert purge_expired() == {"predictionLogs": 0, "outcomeLogs": 0, "jobs": 0}  # twice: nothing more
