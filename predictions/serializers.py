from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from django.conf import settings
from rest_framework import serializers

from core.shapes import OMIT, Omitted, doc, shape
from hotcrm_ai.errors import InvalidInput


class ContextSerializer(serializers.Serializer):
    userId = serializers.CharField(required=False, allow_blank=True, max_length=200)
    objectType = serializers.CharField(required=False, allow_blank=True, max_length=100)
    objectId = serializers.CharField(required=False, allow_blank=True, max_length=200)


class PredictionRequestSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Prediction"  # the request component is "PredictionRequest"

    modelId = serializers.CharField(max_length=100)
    features = serializers.JSONField()
    context = ContextSerializer(required=False)  # type: ignore[assignment]  # the API's name shadows Field.context
    useCache = serializers.BooleanField(required=False, default=True)
    abArm = serializers.ChoiceField(
        choices=["challenger", "champion"], required=False,
        help_text="Force an A/B arm (support and debugging); normally left out.",
    )


class BatchRequestSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Batch"  # the request component is "BatchRequest"

    modelId = serializers.CharField(max_length=100)
    features = serializers.ListField(child=serializers.JSONField(), allow_empty=False)
    useCache = serializers.BooleanField(required=False, default=True)
    contexts = ContextSerializer(
        many=True, required=False,
        help_text="One context per row, in the rows' order (as many as `features`): each row is routed "
                  "(sticky A/B arm per object) and logged with its own context. `{}` for a row without one.",
    )


# --- response shapes: each builds its body (core.shapes.body) and documents it ------------

Arm = Literal["challenger", "champion"]
ConfidenceSource = Literal["model", "logprobs", "stated"]


@shape
class PredictionMetadata:
    predictionId: str = field(metadata=doc(format="uuid"))
    requestedModelId: str
    abTestArm: Arm | None
    provider: str
    confidenceSource: ConfidenceSource | None = field(metadata=doc(
        "Where `confidence` came from: the model's own probability or interval, an LLM's "
        "token probabilities, or the confidence an LLM stated in its answer; null without one."))
    fallbackFrom: str | Omitted = field(default=OMIT, metadata=doc(
        "Present when the configured fallback model answered because this model failed."))
    fallbackReason: str | Omitted = field(default=OMIT, metadata=doc("provider_failed or provider_timeout"))


@shape
class PredictionResponse:
    prediction: Any
    confidence: float | None
    modelId: str
    modelVersion: str
    processingTime: float
    cached: bool
    metadata: PredictionMetadata


@shape
class BatchResponse:
    results: list[PredictionResponse]


class FeedbackRequestSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Feedback"  # the request component is "FeedbackRequest"

    actual = serializers.JSONField(
        help_text="What really happened: the class label for a classifier ('hot', 'high', "
                  "'positive', ...), a number for a regression or forecast (its first period).",
    )

    def validate_actual(self, value):
        if value is None:
            raise serializers.ValidationError("This field may not be null.")
        return value


@shape
class FeedbackResponse:
    predictionId: str = field(metadata=doc(format="uuid"))
    modelId: str
    abTestArm: str | None
    actual: Any
    recordedAt: str | None = field(metadata=doc(format="date-time"))
    correct: bool | Omitted = OMIT
    absoluteError: float | Omitted | None = OMIT


class OutcomeRequestSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Outcome"  # the request component is "OutcomeRequest"

    objectType = serializers.CharField(max_length=100, help_text="As sent in the predictions' `context.objectType`.")
    objectId = serializers.CharField(max_length=200, help_text="As sent in the predictions' `context.objectId`.")
    actual = serializers.JSONField(
        help_text="What really happened: a class label for a classifier, a number for a regression or forecast.",
    )
    modelId = serializers.CharField(
        max_length=100, required=False,
        help_text="Only the predictions of this model (asked for, or answering on an A/B arm); else every model's.",
    )

    def validate_actual(self, value):
        if value is None:
            raise serializers.ValidationError("This field may not be null.")
        return value


@shape
class OutcomeReached(FeedbackResponse):
    requestedModelId: str = field(metadata=doc("The model the prediction was asked of (an A/B test's challenger)."))
    predictedAt: str = field(metadata=doc(format="date-time"))
    recorded: bool = field(metadata=doc("False when the prediction already had this outcome."))


@shape
class OutcomeResponse:
    objectType: str
    objectId: str
    reached: list[OutcomeReached] = field(metadata=doc("The object's latest prediction per model in the window."))


class OutcomeBatchRequestSerializer(serializers.Serializer):
    class Meta:
        ref_name = "OutcomeBatch"  # the request component is "OutcomeBatchRequest"

    outcomes = OutcomeRequestSerializer(many=True, help_text="Up to BATCH_LIMIT (1,000) outcomes.")


@shape
class OutcomeBatchError:
    code: str
    message: str


@shape
class OutcomeBatchItem:
    status: int = field(metadata=doc("What POST /outcomes/ would have answered for this item alone."))
    objectType: str | None
    objectId: str | None
    reached: list[OutcomeReached] | Omitted = OMIT
    error: OutcomeBatchError | Omitted = OMIT


@shape
class OutcomeBatchResponse:
    results: list[OutcomeBatchItem] = field(metadata=doc("One per item, in input order."))
    recorded: int = field(metadata=doc("Items that recorded an outcome (201)."))
    unchanged: int = field(metadata=doc("Items whose predictions already had it (200)."))
    failed: int = field(metadata=doc("Items refused (4xx), each with its error."))


@shape
class AbArmReport:
    openapi_name = "AbArm"

    modelId: str
    modelVersion: str
    predictions: int = field(metadata=doc("Predictions served on this arm (shadow runs not included)."))
    shadowRuns: int = field(metadata=doc("The challenger's shadow runs (never served), counted apart."))
    failures: int = field(metadata=doc("Served predictions that failed."))
    shadowFailures: int = field(metadata=doc("Shadow runs that failed."))
    latency: dict[str, float | None] = field(
        metadata=doc("mean and p95 in ms of the served requests, one figure per request (a batch is one)."))
    meanConfidence: float | None = field(metadata=doc("over the arm's answers, served or shadow"))
    outcomes: int = field(metadata=doc("outcomes of the arm's answers, served or shadow"))
    accuracy: float | None = field(metadata=doc("% correct, classifiers"))
    mae: float | None = field(metadata=doc("mean absolute error, numbers"))


@shape
class AbSignificance:
    test: str
    winner: str | None
    pValue: float | None
    confidenceLevel: int
    outcomesNeeded: int | None
    text: str


@shape
class AbTestReport:
    modelId: str
    championModelId: str
    enabled: bool
    mode: str
    trafficPercentage: float
    metric: Literal["accuracy", "mae"]
    arms: dict[str, AbArmReport]
    significance: AbSignificance
    verdict: str


CONTEXT_LIMITS = {"userId": 200, "objectType": 100, "objectId": 200}
REQUEST_KEYS = {"modelId", "features", "context", "useCache", "abArm"}


def plain_prediction_request(data: Any) -> dict[str, Any] | None:
    """The validated data of a well-formed prediction body, or None to use the serializer.

    Hand-written because this is the hot path: a DRF serializer deep-copies its fields on
    every instantiation (~0.3 ms a request, bench/profiles/). It accepts only what
    PredictionRequestSerializer would accept unchanged; anything else (a coercible
    "true", padded strings, unknown keys, errors) goes through the serializer.
    """
    if not isinstance(data, dict) or not data.keys() <= REQUEST_KEYS:
        return None
    model_id, features = data.get("modelId"), data.get("features")
    if not _plain_text(model_id, 100) or not model_id:
        return None
    if features is None:
        return None
    use_cache = data.get("useCache", True)
    arm = data.get("abArm")
    if not isinstance(use_cache, bool) or ("abArm" in data and arm not in ("challenger", "champion")):
        return None
    out = {"modelId": model_id, "features": features, "useCache": use_cache}
    if arm is not None:
        out["abArm"] = arm
    if "context" in data:
        if not _plain_context(data["context"]):
            return None
        out["context"] = dict(data["context"])
    return out


BATCH_KEYS = {"modelId", "features", "useCache", "contexts"}


def plain_batch_request(data: Any) -> dict[str, Any] | None:
    """As `plain_prediction_request`, for a batch: BatchRequestSerializer's JSONField child
    re-serialises every row to check it is JSON (11 ms of a 1,000-row batch), which a parsed
    JSON body always is. The rows themselves are validated by the pipeline, row by row."""
    if not isinstance(data, dict) or not data.keys() <= BATCH_KEYS:
        return None
    model_id, rows, use_cache = data.get("modelId"), data.get("features"), data.get("useCache", True)
    if not _plain_text(model_id, 100) or not model_id:
        return None
    if not isinstance(rows, list) or not rows or not isinstance(use_cache, bool):
        return None
    if any(row is None for row in rows):  # the serializer refuses null rows
        return None
    out = {"modelId": model_id, "features": rows, "useCache": use_cache}
    if "contexts" in data:
        contexts = data["contexts"]
        if not isinstance(contexts, list) or not all(_plain_context(c) for c in contexts):
            return None
        out["contexts"] = [dict(c) for c in contexts]
    return out


def _plain_context(context: Any) -> bool:
    """A context ContextSerializer keeps unchanged."""
    if not isinstance(context, dict) or not context.keys() <= CONTEXT_LIMITS.keys():
        return False
    return all(_plain_text(value, CONTEXT_LIMITS[key]) for key, value in context.items())


def _plain_text(value: Any, limit: int) -> bool:
    """A string DRF's CharField keeps unchanged: within its length, not padded (it trims),
    and without NUL characters (it refuses them)."""
    return isinstance(value, str) and len(value) <= limit and value.strip() == value and "\x00" not in value


def batch_items(items: Any, *, key: str, noun: str, what: str) -> list[Any]:
    """A batch's list (prediction rows, outcomes): non-empty and at most BATCH_LIMIT long."""
    limit = settings.HOTCRM["BATCH_LIMIT"]
    if not isinstance(items, list) or not items:
        raise InvalidInput(f"'{key}' must be a non-empty list of {what}.", code="invalid_batch")
    if len(items) > limit:
        raise InvalidInput(f"A batch may hold at most {limit} {noun} (got {len(items)}).", code="batch_too_large")
    return items


def outcome_batch_items(data: Any) -> list[Any]:
    """The items of an outcomes batch, each checked later on its own (one bad item must not
    refuse the others, as OutcomeBatchRequestSerializer's list would)."""
    items = data.get("outcomes") if isinstance(data, dict) else None
    return batch_items(items, key="outcomes", noun="outcomes", what="outcomes")
