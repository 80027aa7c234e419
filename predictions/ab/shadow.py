"""Shadow mode: the champion answers every request; on a sample the challenger is run too,
its answer logged and measured (arm "shadow") and never returned.

`predict` hands `shadow_run` to core.after_response: the challenger runs after the response
has been sent, off the caller's clock, on the request's own database connection. Outside a
request (a management command, a direct service call) it runs at once.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from core.metrics import MetricRecord, metrics_record
from predictions.features import validate
from predictions.ids import shadow_id
from predictions.models import PredictionLog
from predictions.providers import provider_for
from predictions.recording import context_columns, log_label, prediction_logs_insert, request_metrics
from registry.models import AbArm

if TYPE_CHECKING:
    from registry.models import MLModel

logger = logging.getLogger(__name__)
SHADOW = AbArm.SHADOW


def shadow_run(requested: MLModel, answers: list[Any], raw_rows: list[Any]) -> None:
    """Run the challenger on every answer whose route drew a shadow run, log and measure it
    (with the answer's own context, so an outcome for the object reaches the twin too)."""
    work = [(a, raw) for a, raw in zip(answers, raw_rows, strict=True) if a.route.shadow is not None]
    if not work:
        return
    challenger = work[0][0].route.shadow
    started = time.perf_counter()
    try:
        rows = [validate(challenger, raw) for _, raw in work]
        results = provider_for(challenger).predict_batch(challenger, rows)
    except Exception as exc:
        _record_shadow_failure(challenger, len(work), exc, started)
        return
    elapsed = (time.perf_counter() - started) * 1000
    now = timezone.now()
    logs = []
    for (answer, _), row, result in zip(work, rows, results, strict=True):
        user_id, object_type, object_id = context_columns(answer.context)
        logs.append(PredictionLog(
            id=shadow_id(answer.prediction_id), model_id=challenger.pk,
            model_version=challenger.version, requested_model_id=requested.pk, ab_arm=SHADOW,
            provider=challenger.provider, features=row, prediction=result.value,
            label=log_label(result.value), confidence=result.confidence, shadow=True,
            created_at=now, user_id=user_id, object_type=object_type, object_id=object_id,
        ))
    # Stored now, not queued: an outcome for the answered prediction must find its twin.
    prediction_logs_insert(logs)
    metrics_record(request_metrics(((challenger, SHADOW, False, r.confidence) for r in results),
                                   latency_ms=elapsed, timestamp=now))


def _record_shadow_failure(challenger: MLModel, count: int, exc: Exception, started: float) -> None:
    logger.warning("Shadow challenger %s failed: %s", challenger.pk, type(exc).__name__)
    now = timezone.now()
    metrics_record([MetricRecord(
        model_id=challenger.pk, model_version=challenger.version, timestamp=now,
        latency_ms=(time.perf_counter() - started) * 1000, confidence=None, cached=False,
        success=False, provider=challenger.provider, ab_arm=SHADOW, rows=count,
        error=str(getattr(exc, "message", type(exc).__name__))[:500],
        error_code=str(getattr(exc, "code", "provider_failed"))[:50],
    )])
