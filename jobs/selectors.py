"""Reads of bulk scoring jobs: who sees which job, the Job body, results and errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from hotcrm_ai.errors import Conflict, NotFound
from jobs import outcomes
from jobs.models import Job, JobChunk, JobKind, JobRowError, JobStatus
from jobs.scoring import result_header


def owner_name(user: Any) -> str:
    """How a job records its creator: `token:NAME` for a service token, else the username."""
    return (getattr(user, "username", "") or str(user))[:150]


def jobs_visible_to(user: Any) -> QuerySet[Job]:
    """A service token sees its own jobs, staff every job."""
    jobs = Job.objects.defer("columns", "result_columns")
    return jobs if getattr(user, "is_staff", False) else jobs.filter(created_by=owner_name(user))


def job_get_for(user: Any, job_id: Any) -> Job:
    job = jobs_visible_to(user).filter(pk=job_id).first()
    if job is None:
        raise NotFound("No such job.", code="job_not_found")
    return job


def job_body(job: Job) -> dict[str, Any]:
    now = timezone.now()
    base = f"/api/v1/jobs/{job.pk}/"
    return {
        "id": str(job.pk), "kind": job.kind, "modelId": job.model_id or None, "status": job.status,
        "rowsTotal": job.rows_total, "rowsDone": job.rows_done, "rowsFailed": job.rows_failed,
        "progress": job.progress(), "rowsPerSecond": job.rows_per_second(now), "etaSeconds": job.eta_seconds(now),
        "createdAt": job.created_at.isoformat(),
        "startedAt": job.started_at.isoformat() if job.started_at else None,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        "createdBy": job.created_by, "error": job.error or None,
        "idColumn": job.id_column or None, "objectType": job.object_type or None,
        "resultsUrl": base + "results/" if job.status == JobStatus.SUCCEEDED else None,
        "errorsUrl": base + "errors/",
    }


def job_results_stream(job: Job) -> Iterator[bytes]:
    """The results file, a chunk at a time in input order: memory stays flat however large."""
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(f"The job is {job.status}; results are ready once it has succeeded.", code="job_not_ready")
    job = Job.objects.get(pk=job.pk)  # with its result columns
    return _results(job)


def _results(job: Job) -> Iterator[bytes]:
    head = io.StringIO()
    header = outcomes.RESULT_HEADER if job.kind == JobKind.OUTCOMES else result_header(job)
    csv.writer(head, lineterminator="\n").writerow(header)
    yield head.getvalue().encode()
    chunk_ids = list(JobChunk.objects.filter(job=job).order_by("index").values_list("pk", flat=True))
    for chunk_id in chunk_ids:
        output = JobChunk.objects.filter(pk=chunk_id).values_list("output", flat=True).first()
        if output:
            yield bytes(output)


def job_errors(job: Job) -> QuerySet[JobRowError]:
    return job.row_errors.order_by("row")


def error_body(error: JobRowError) -> dict[str, Any]:
    return {"row": error.row, "id": error.object_id or None, "code": error.code, "message": error.message}
