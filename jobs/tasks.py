"""Celery tasks of bulk scoring: thin, ids in, one service call each, safe to run twice."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, close_old_connections

from hotcrm_ai.celery import app
from jobs import services
from jobs.stages import timer


@app.task(name="jobs.score_chunk", acks_late=True, reject_on_worker_lost=True,
          autoretry_for=(OperationalError, InterfaceError), retry_backoff=1, retry_backoff_max=10,
          max_retries=None, retry_jitter=True)
def score_chunk_task(chunk_id: int) -> None:
    timer().begin(chunk=chunk_id)
    # A connection broken by a database restart is replaced rather than reused.
    close_old_connections()
    timer().mark("connections")
    try:
        services.chunk_score(chunk_id=chunk_id)
    finally:
        timer().end()


@app.task(name="jobs.requeue_stalled", acks_late=True, ignore_result=True)
def requeue_stalled_task() -> int:
    close_old_connections()
    return services.jobs_requeue_stalled()
