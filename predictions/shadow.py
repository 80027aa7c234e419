"""Shadow mode: the champion answers every request; on a sample the challenger is run too,
its answer logged and measured (arm "shadow") and never returned.

The challenger runs after the response has been sent: Django fires `request_finished`
when the WSGI server closes the response, which gunicorn does once the body is written.
That keeps the shadow work off the caller's clock without a thread pool of our own, and it
runs on the request's own database connection, so no extra connections per worker.
Outside a request (a management command, a direct service call) it runs at once.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.core.signals import request_finished, request_started
from django.dispatch import receiver
from django.utils import timezone

from monitoring.services import MetricRecord, metrics_record
from predictions.models import PredictionLog
from predictions.recording import prediction_logs_insert

if TYPE_CHECKING:
    from registry.models import MLModel

logger = logging.getLogger(__name__)
SHADOW = "shadow"
# The shadow log of a prediction has an id derived from the prediction's own, so an outcome
# reported for the returned prediction reaches its shadow twin without another column.
_SHADOW_NAMESPACE = uuid.UUID("7b0e4f43-5d0c-4e8e-9a4c-0c5a1f6d2b11")
_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar("shadow_pending", default=None)


def shadow_id(prediction_id: str) -> str:
    return str(uuid.uuid5(_SHADOW_NAMESPACE, str(prediction_id)))


def after_response(job: Callable[[], None]) -> None:
    jobs = _pending.get()
    if jobs is None:
        _run_safely(job)
    else:
        jobs.append(job)


@receiver(request_started, dispatch_uid="shadow_request_started")
def _open_request(**kwargs: Any) -> None:
    _pending.set([])


@receiver(request_finished, dispatch_uid="shadow_request_finished")
def _finish_request(**kwargs: Any) -> None:
    jobs = _pending.get() or []
    _pending.set(None)
    for job in jobs:
        _run_safely(job)


def _run_safely(job: Callable[[], None]) -> None:
    try:
        job()
    except Exception:  # a shadow run must never hurt the request or the worker
        logger.exception("Shadow run failed")


def shadow_schedule(
    requested: MLModel, answers: list[Any], raw_rows: list[Any], context: dict[str, Any] | None
) -> None:
    """Queue the challenger for every answer whose route drew a shadow run."""
    work = [(a, raw) for a, raw in zip(answers, raw_rows, strict=True) if a.route.shadow is not None]
    if work:
        after_response(lambda: shadow_run(requested, work, context))


def shadow_run(requested: MLModel, work: list[tuple[Any, Any]], context: dict[str, Any] | None) -> None:
    from predictions import services  # the pipeline's own steps; imported late to avoid a cycle

    challenger = work[0][0].route.shadow
    started = time.perf_counter()
    try:
        rows = [services.validate(challenger, raw) for _, raw in work]
        results = services.provider_for(challenger).predict_batch(challenger, rows)
    except Exception as exc:
        _record_shadow_failure(challenger, len(work), exc, started)
        return
    elapsed = (time.perf_counter() - started) * 1000
    now, context = timezone.now(), context or {}
    logs, metrics = [], []
    for (answer, _), row, result in zip(work, rows, results, strict=True):
        logs.append(PredictionLog(
            id=shadow_id(answer.prediction_id), model_id=challenger.pk,
            model_version=challenger.version, requested_model_id=requested.pk, ab_arm=SHADOW,
            provider=challenger.provider, features=row, prediction=result.value,
            label=services._label(result.value), confidence=result.confidence, shadow=True,
            created_at=now, user_id=str(context.get("userId") or "")[:200],
            object_type=str(context.get("objectType") or "")[:100],
            object_id=str(context.get("objectId") or "")[:200],
        ))
        metrics.append(MetricRecord(
            model_id=challenger.pk, model_version=challenger.version, timestamp=now,
            latency_ms=elapsed, confidence=result.confidence, cached=False, success=True,
            provider=challenger.provider, ab_arm=SHADOW,
        ))
    # Stored now, not queued: an outcome for the answered prediction must find its twin.
    prediction_logs_insert(logs)
    metrics_record(metrics)


def _record_shadow_failure(challenger: MLModel, count: int, exc: Exception, started: float) -> None:
    logger.warning("Shadow challenger %s failed: %s", challenger.pk, type(exc).__name__)
    now = timezone.now()
    metrics_record([
        MetricRecord(
            model_id=challenger.pk, model_version=challenger.version, timestamp=now,
            latency_ms=(time.perf_counter() - started) * 1000, confidence=None, cached=False,
            success=False, provider=challenger.provider, ab_arm=SHADOW,
            error=str(getattr(exc, "message", type(exc).__name__))[:500],
            error_code=str(getattr(exc, "code", "provider_failed"))[:50],
        )
        for _ in range(count)
    ])
