"""Celery tasks of bulk scoring: thin, ids in, one service call each, safe to run twice."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, close_old_connections

from hotcrm_ai.celery import app
from jobs import services


@app.task(name="jobs.score_chunk", acks_late=True, reject_on_worker_lost=True,
          autoretry_for=(OperationalError, InterfaceError), retry_backoff=1, retry_backoff_max=10,
          max_retries=None, retry_jitter=True)
def score_chunk_task(chunk_id: int) -> None:
    # A connection broken by a database restart is replaced rather than reused.
    close_old_connections()
    services.chunk_score(chunk_id=chunk_id)


@app.task(name="jobs.requeue_stalled", acks_late=True, ignore_result=True)
def requeue_stalled_task() -> int:
    close_old_connections()
    return services.jobs_requeue_stalled()
