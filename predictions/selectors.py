"""Prediction reads: live outcomes per model (the A/B report is predictions.ab.report)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import QuerySet

from predictions.feedback import LABEL_TYPES, predicted_number
from predictions.models import PredictionLog
from registry.models import MLModel

OUTCOME_COLUMNS = ("label", "actual", "prediction")


def outcome_summary(logs: QuerySet[PredictionLog], model_type: str) -> dict[str, Any]:
    """Outcomes among `logs`: accuracy (%) for classifiers, MAE for numbers."""
    return outcome_summary_of(list(logs.filter(actual__isnull=False).values_list(*OUTCOME_COLUMNS)), model_type)


def outcome_summary_of(rows: list[tuple[str, Any, Any]], model_type: str) -> dict[str, Any]:
    """`outcome_summary` of (label, actual, prediction) rows already read."""
    if model_type in LABEL_TYPES:
        correct = sum(1 for label, actual, _ in rows if label == actual)
        return {"outcomes": len(rows), "correct": correct,
                "accuracy": round(100 * correct / len(rows), 2) if rows else None, "mae": None}
    errors = _absolute_errors(rows)
    return {"outcomes": len(errors), "errors": errors, "accuracy": None,
            "mae": round(float(np.mean(errors)), 4) if errors else None}


def live_accuracies(models: list[MLModel], since: datetime | None) -> dict[str, float | None]:
    """`live_accuracy(...)["accuracy"]` of every model in `models`, in one query."""
    logs = PredictionLog.objects.filter(model_id__in=[m.pk for m in models], shadow=False, actual__isnull=False)
    if since is not None:
        logs = logs.filter(created_at__gte=since)
    rows: dict[str, list[tuple[str, Any, Any]]] = {m.pk: [] for m in models}
    for model_id, *row in logs.values_list("model_id", *OUTCOME_COLUMNS):
        rows[model_id].append((row[0], row[1], row[2]))
    return {m.pk: outcome_summary_of(rows[m.pk], m.type)["accuracy"] for m in models}


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
