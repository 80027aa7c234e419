"""Celery tasks of alerts: thin, taking ids, safe to run twice."""

from __future__ import annotations

from django.conf import settings

from alerts import services
from hotcrm_ai.celery import app


@app.task(name="alerts.evaluate", ignore_result=True)
def evaluate() -> dict | None:
    """Scheduled by beat every ALERT_INTERVAL s; the lease lets only one cycle run at a time."""
    return services.alerts_run_cycle()


@app.task(name="alerts.deliver", bind=True, acks_late=True, ignore_result=True, max_retries=None)
def deliver(self, delivery_id: int) -> None:
    """One attempt; a failure is retried later (the worker is free meanwhile) with backoff."""
    attempts = settings.ALERTS["DELIVERY_ATTEMPTS"]
    last = self.request.retries + 1 >= attempts
    result = services.delivery_attempt(delivery_id, last=last)
    if result is not None and not result.ok and result.retryable and not last:
        raise self.retry(countdown=services.retry_delay(self.request.retries))
