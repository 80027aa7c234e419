"""Celery tasks of privacy: thin, one service call, safe to run twice."""

from __future__ import annotations

from hotcrm_ai.celery import app
from privacy import services


@app.task(name="privacy.purge_expired", ignore_result=True)
def purge_expired() -> dict[str, int]:
    """Scheduled by beat every RETENTION_INTERVAL s (settings.py)."""
    return services.expired_purge().removed
