"""Prediction reads: live outcomes per model (the A/B report is predictions.ab.report)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import QuerySet

from predictions.feedback import LABEL_TYPES, predicted_number
from predictions.models import PredictionLog
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


def _absolute_errors(rows: list[tuple[str, Any, Any]]) -> list[float]:
    errors = []
    for _, actual, prediction in rows:
        predicted = predicted_number(prediction)
        if predicted is not None and isinstance(actual, int | float):
            errors.append(abs(predicted - float(actual)))
    return errors
