"""Prediction reads: live outcomes per model and per arm, and the A/B test report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import Avg, Count, QuerySet

from hotcrm_ai.errors import NotSupported
from monitoring.models import Metric
from predictions.feedback import LABEL_TYPES, predicted_number
from predictions.models import PredictionLog
from predictions.routing import CHALLENGER, CHAMPION
from predictions.shadow import SHADOW
from predictions.verdict import compare_accuracy, compare_errors
from registry.models import MLModel


def outcome_summary(logs: QuerySet[PredictionLog], model_type: str) -> dict[str, Any]:
    """Outcomes among `logs`: accuracy (%) for classifiers, MAE for numbers."""
    rows = list(logs.filter(actual__isnull=False).values_list("label", "actual", "prediction"))
    if model_type in LABEL_TYPES:
        correct = sum(1 for label, actual, _ in rows if label == actual)
        return {"outcomes": len(rows), "correct": correct,
                "accuracy": round(100 * correct / len(rows), 2) if rows else None, "mae": None}
    errors = _absolute_errors(rows)
    return {"outcomes": len(errors), "errors": errors, "accuracy": None,
            "mae": round(float(np.mean(errors)), 4) if errors else None}


def live_accuracy(model_id: str, since: datetime | None = None) -> dict[str, Any]:
    """A model's live accuracy or MAE from outcomes (every arm, shadow runs excluded)."""
    model_type = MLModel.objects.filter(pk=model_id).values_list("type", flat=True).first() or ""
    logs = PredictionLog.objects.filter(model_id=model_id, shadow=False)
    if since is not None:
        logs = logs.filter(created_at__gte=since)
    summary = outcome_summary(logs, model_type)
    summary.pop("errors", None)
    return summary


def ab_test_report(model: MLModel) -> dict[str, Any]:
    """Both arms of the A/B test in which `model` is the challenger, and the verdict."""
    champion = model.ab_champion
    if champion is None:
        raise NotSupported(f"'{model.pk}' is not the challenger of an A/B test.", code="no_ab_test")
    logs = PredictionLog.objects.filter(requested_model_id=model.pk)
    challenger_arms = [CHALLENGER, SHADOW]
    arms = {
        CHALLENGER: _arm(model, logs.filter(model_id=model.pk, ab_arm__in=challenger_arms),
                         Metric.objects.filter(model_id=model.pk, ab_arm__in=challenger_arms)),
        CHAMPION: _arm(champion, logs.filter(model_id=champion.pk, ab_arm=CHAMPION),
                       Metric.objects.filter(model_id=champion.pk, ab_arm=CHAMPION)),
    }
    share = model.ab_traffic_percentage
    expected_ratio = (100 - share) / share if 0 < share < 100 else 1.0
    c, h = arms[CHALLENGER], arms[CHAMPION]
    if model.type in LABEL_TYPES:
        metric = "accuracy"
        verdict = compare_accuracy(c["correct"], c["outcomes"], h["correct"], h["outcomes"],
                                   expected_ratio=expected_ratio)
    else:
        metric = "mae"
        verdict = compare_errors(c["errors"], h["errors"], expected_ratio=expected_ratio)
    for arm in arms.values():
        arm.pop("errors", None)
        arm.pop("correct", None)
    return {
        "modelId": model.pk, "championModelId": champion.pk, "enabled": model.ab_enabled,
        "mode": model.ab_mode, "trafficPercentage": share, "metric": metric,
        "arms": arms, "significance": verdict.as_dict(), "verdict": verdict.text,
    }


def _arm(model: MLModel, logs: QuerySet[PredictionLog], metrics: QuerySet[Metric]) -> dict[str, Any]:
    counts = logs.aggregate(predictions=Count("id"), confidence=Avg("confidence"))
    latencies = np.asarray(metrics.filter(success=True).values_list("latency_ms", flat=True), float)
    outcomes = outcome_summary(logs, model.type)
    return {
        "modelId": model.pk, "modelVersion": model.version,
        "predictions": counts["predictions"],
        "errors": outcomes.get("errors"),
        "failures": metrics.filter(success=False).count(),
        "latency": {
            "mean": round(float(latencies.mean()), 3) if latencies.size else None,
            "p95": round(float(np.percentile(latencies, 95)), 3) if latencies.size else None,
        },
        "meanConfidence": round(counts["confidence"], 2) if counts["confidence"] is not None else None,
        "outcomes": outcomes["outcomes"], "correct": outcomes.get("correct"),
        "accuracy": outcomes["accuracy"], "mae": outcomes["mae"],
    }


def _absolute_errors(rows: list[tuple[str, Any, Any]]) -> list[float]:
    errors = []
    for _, actual, prediction in rows:
        predicted = predicted_number(prediction)
        if predicted is not None and isinstance(actual, int | float):
            errors.append(abs(predicted - float(actual)))
    return errors
