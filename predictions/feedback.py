"""Outcomes: what really happened to a predicted object. An outcome is recorded once per
prediction; it feeds the model's live accuracy (classifiers) or MAE (numbers) and the A/B
verdict. Sending the same outcome again changes nothing; a different one is refused with
409, so a retried call is safe and a contradiction is never silently overwritten."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import datetime
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.shapes import body_of
from hotcrm_ai.errors import Conflict, InvalidInput, NotFound, NotSupported
from predictions.ids import minted_at, shadow_id
from predictions.models import PredictionLog
from predictions.recording import log_buffer
from predictions.serializers import FeedbackResponse
from registry.models import MLModel, ModelType

# Beyond twice the flush interval, how long a flush itself may take under load.
FLUSH_GRACE = 2.0
F = TypeVar("F", bound=FeedbackResponse)
LABEL_TYPES = {ModelType.CLASSIFICATION, ModelType.NLP}
NUMBER_TYPES = {ModelType.REGRESSION, ModelType.FORECASTING}
# The labels of the built-in output shapes, by the key that carries them.
KNOWN_LABELS = {
    "class": ("hot", "warm", "cold"),
    "risk": ("low", "medium", "high"),
    "sentiment": ("positive", "neutral", "negative"),
}


def outcome_kind(model_type: str) -> str:
    if model_type in LABEL_TYPES:
        return "label"
    if model_type in NUMBER_TYPES:
        return "number"
    raise NotSupported(
        f"Outcomes are not supported for {model_type} models: send a class label for a "
        "classifier or a number for a regression or forecast.", code="outcome_not_supported",
    )


def prediction_feedback_record(*, prediction_id: str, actual: Any) -> tuple[PredictionLog, bool]:
    """Record the outcome; returns the log and whether it was new."""
    await_stored(prediction_id)
    return _feedback_record(prediction_id, actual)


def await_stored(prediction_id: str) -> None:
    """Log rows reach the database from each worker's background flush, so a prediction
    answered moments ago by another process may not be there yet: wait for it, outside any
    transaction (a SQLite write lock held here would stop that flush), but only for an id
    minted in the last few seconds (ids carry their time, predictions.ids), so an unknown or
    old id is answered at once and cannot hold a worker."""
    if PredictionLog.objects.filter(pk=prediction_id).exists():
        return
    log_buffer().flush()  # this process's own rows
    minted = minted_at(prediction_id)
    if minted is None:
        return
    deadline = minted + 2 * settings.HOTCRM["METRICS_FLUSH_INTERVAL"] + FLUSH_GRACE
    while time.time() < deadline:
        if PredictionLog.objects.filter(pk=prediction_id).exists():
            return
        time.sleep(0.02)


@transaction.atomic
def _feedback_record(prediction_id: str, actual: Any) -> tuple[PredictionLog, bool]:
    log = PredictionLog.objects.select_for_update().filter(pk=prediction_id, shadow=False).first()
    if log is None:
        raise NotFound(f"No prediction '{prediction_id}'.", code="prediction_not_found")
    value = outcome_to_record(log, actual)
    if value is None:
        return log, False
    now = timezone.now()
    outcomes_store({log.pk: value}, now)
    log.actual, log.feedback_at = value, now
    return log, True


def outcome_to_record(log: PredictionLog, actual: Any, model_types: dict[str, str | None] | None = None, *,
                      text_numbers: bool = False) -> Any:
    """The outcome `log` (a prediction row locked by the caller's transaction) is to record,
    `actual` validated for its model; None when it already has this very outcome (a retry);
    a different one is a 409. Feedback by id and outcomes by object both decide here.
    `model_types` memoises the answering models' types across the rows of one request."""
    value = outcome_validate(log, actual, model_types, text_numbers=text_numbers)
    if log.actual is None:
        return value
    if log.actual == value:
        return None
    raise Conflict(
        f"Prediction '{log.pk}' already has the outcome {log.actual!r}; an outcome cannot be changed.",
        code="outcome_conflict",
    )


def outcomes_store(values: dict[Any, Any], now: datetime) -> None:
    """Store decided outcomes by prediction id, each shadow twin (the challenger run on the
    side) getting its prediction's: one UPDATE per distinct outcome, not per row."""
    by_value: dict[tuple[type, Any], list[Any]] = defaultdict(list)
    for pk, value in values.items():
        by_value[(type(value), value)].append(pk)
    for (_, value), pks in by_value.items():
        ids = [*pks, *(shadow_id(str(pk)) for pk in pks)]
        PredictionLog.objects.filter(pk__in=ids, actual__isnull=True).update(actual=value, feedback_at=now)


def outcome_validate(log: PredictionLog, actual: Any, model_types: dict[str, str | None] | None = None, *,
                     text_numbers: bool = False) -> Any:
    """`actual` as `log`'s model takes it. With `text_numbers` a number may come as its text
    (a CSV cell of an outcomes job, where every value is text)."""
    if model_types is None:
        model_types = {}
    if log.model_id not in model_types:
        model_types[log.model_id] = MLModel.objects.filter(pk=log.model_id).values_list("type", flat=True).first()
    model_type = model_types[log.model_id]
    kind = outcome_kind(model_type) if model_type else _kind_from_prediction(log)
    if kind == "number":
        if text_numbers and isinstance(actual, str):
            actual = _number_of(actual)
        if isinstance(actual, bool) or not isinstance(actual, int | float) or not math.isfinite(actual):
            raise InvalidInput("'actual' must be a finite number for this model.", code="invalid_actual")
        return float(actual)
    if not isinstance(actual, str) or not actual.strip() or len(actual) > 50:
        raise InvalidInput("'actual' must be the class label (a short string) the object turned out to have.",
                           code="invalid_actual")
    labels = _labels_of(log.prediction)
    value = actual.strip().lower() if labels else actual.strip()
    if labels and value not in labels:
        raise InvalidInput(f"'actual' must be one of {', '.join(labels)}.", code="invalid_actual")
    return value


def predicted_number(prediction: Any) -> float | None:
    """The number a regression or forecast predicted (a forecast's first period)."""
    if isinstance(prediction, int | float) and not isinstance(prediction, bool):
        return float(prediction)
    if isinstance(prediction, dict):
        if isinstance(prediction.get("value"), int | float):
            return float(prediction["value"])
        forecast = prediction.get("forecast")
        if isinstance(forecast, list) and forecast and isinstance(forecast[0], dict):
            return predicted_number(forecast[0])
    return None


def outcome_feedback_body(log: PredictionLog) -> dict[str, Any]:
    return body_of(feedback_response(log, FeedbackResponse))


def feedback_response(log: PredictionLog, shape: type[F], **more: Any) -> F:
    """The outcome of `log` as `shape` (FeedbackResponse or one that extends it with `more`)."""
    response = shape(
        predictionId=str(log.pk), modelId=log.model_id, abTestArm=log.ab_arm or None, actual=log.actual,
        recordedAt=log.feedback_at.isoformat() if log.feedback_at else None, **more,
    )
    if isinstance(log.actual, str):
        response.correct = log.label == log.actual
    else:
        predicted = predicted_number(log.prediction)
        response.absoluteError = None if predicted is None else abs(predicted - float(cast(float, log.actual)))
    return response


def _number_of(text: str) -> Any:
    try:
        return float(text.strip())
    except ValueError:
        return text  # refused as not a number by the caller


def _labels_of(prediction: Any) -> tuple[str, ...]:
    if isinstance(prediction, dict):
        for key, labels in KNOWN_LABELS.items():
            if key in prediction:
                return labels
    return ()


def _kind_from_prediction(log: PredictionLog) -> str:
    # The model was deleted since: judge by what it answered.
    return "label" if log.label else "number"
