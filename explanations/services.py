"""Explanations, read top to bottom like the prediction pipeline:
resolve model -> choose arm (the model that answers the object) -> validate -> cache lookup
-> explain (the model's own output) -> metric (kind "explanation") -> response (a shape of
explanations.serializers) -> cache store of its body."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from django.utils import timezone

from core.cache import shared_cache
from core.metrics import MetricRecord, metrics_record
from core.shapes import OMIT, body_of
from explanations import shapley
from explanations.explainers import Charge, Compared, Explained, explainer_for
from explanations.narrative import comparison_text, explanation_text
from explanations.serializers import (
    CompareResponse,
    Difference,
    ExplanationResponse,
    FeatureContribution,
    Method,
)
from hotcrm_ai.errors import ApplicationError
from predictions.ab.routing import choose_arm, routing_key
from predictions.features import validate
from predictions.services import resolve_model
from registry.models import MLModel

TOP_FEATURES = 5
T = TypeVar("T")


def explain(*, model_id: Any, features: Any, context: dict[str, Any] | None = None, forced_arm: str | None = None,
            use_cache: bool = True, charge: Charge | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    model = explained_model(model_id, context, forced_arm)
    cleaned = validate(model, features)
    key = cache_key(model, "explain", cleaned)
    hit = cache_lookup(model, key, use_cache)
    if hit is not None:
        return served_from_cache(model, hit, started)
    explainer = explainer_for(model, charge)
    result = run(model, started, lambda: explainer.explain(cleaned))
    response = explanation_response(model, result, started)
    record(model, started, success=True, confidence=response.confidence)
    body = body_of(response)
    cache_store(model, key, body, use_cache)
    return body


def compare(*, model_id: Any, features1: Any, features2: Any, context: dict[str, Any] | None = None,
            forced_arm: str | None = None, use_cache: bool = True, charge: Charge | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    model = explained_model(model_id, context, forced_arm)
    first, second = validate(model, features1), validate(model, features2)
    key = cache_key(model, "compare", [first, second])
    hit = cache_lookup(model, key, use_cache)
    if hit is not None:
        return served_from_cache(model, hit, started)
    explainer = explainer_for(model, charge)
    compared = run(model, started, lambda: explainer.compare(first, second))
    response = compare_response(model, compared, started)
    record(model, started, success=True)
    body = body_of(response)
    cache_store(model, key, body, use_cache)
    return body


# --- steps --------------------------------------------------------------------------------


def explained_model(model_id: Any, context: dict[str, Any] | None, forced_arm: str | None) -> MLModel:
    """The requested model; on a running A/B test, with an object (or user) in `context` or a
    forced arm, the model that answers that object, by the predictions' own sticky routing.
    Without either, the requested model itself: a random arm would explain a model the
    caller cannot name."""
    requested = resolve_model(model_id)
    if forced_arm is None and routing_key(context) is None:
        return requested
    return choose_arm(requested, context, forced_arm).model


def cache_key(model: MLModel, kind: str, features: Any) -> str:
    canonical = json.dumps(features, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"expl:{kind}:{model.pk}:{model.answers_identity}:{digest}"


def cache_lookup(model: MLModel, key: str, use_cache: bool) -> dict[str, Any] | None:
    if not use_cache or model.cache_ttl <= 0:
        return None
    return shared_cache().get_many([key]).get(key)


def cache_store(model: MLModel, key: str, body: dict[str, Any], use_cache: bool) -> None:
    if use_cache and model.cache_ttl > 0:
        shared_cache().set_many({key: body}, model.cache_ttl)


def run(model: MLModel, started: float, work: Callable[[], T]) -> T:
    """Run the explanation; a failure is recorded as a failed explanation, then raised."""
    try:
        return work()
    except ApplicationError as exc:
        if exc.status >= 500:
            record(model, started, success=False, error=exc)
        raise


def served_from_cache(model: MLModel, hit: dict[str, Any], started: float) -> dict[str, Any]:
    """A cached body (ExplanationResponse or CompareResponse) with this request's own fields."""
    record(model, started, success=True, cached=True, confidence=hit.get("confidence"))
    return {**hit, "modelId": model.pk, "modelVersion": model.version, "processingTime": _ms(started), "cached": True}


def record(
    model: MLModel, started: float, *, success: bool, cached: bool = False,
    confidence: float | None = None, error: ApplicationError | None = None,
) -> None:
    metrics_record([MetricRecord(
        model_id=model.pk, model_version=model.version, timestamp=timezone.now(),
        latency_ms=(time.perf_counter() - started) * 1000, confidence=confidence, cached=cached,
        success=success, provider=model.provider, kind="explanation",
        error=error.message[:500] if error else "", error_code=error.code[:50] if error else "",
    )])


# --- responses (explanations.serializers) ----------------------------------------------


def explanation_response(model: MLModel, result: Explained, started: float) -> ExplanationResponse:
    attribution = result.attribution
    values = np.asarray(attribution.values, dtype=float)
    total = float(np.abs(values).sum())
    contributions = []
    for i, player in enumerate(result.players):
        shap_value = float(values[i])
        share = shap_value / total if total else 0.0
        contributions.append(FeatureContribution(
            feature=player.feature, label=player.label, value=player.value, shapValue=shap_value,
            contribution=round(share, 6), importance=round(abs(share) * 100, 2), position=player.position,
            standardError=OMIT if attribution.standard_errors is None else float(attribution.standard_errors[i]),
        ))
    contributions.sort(key=lambda c: -abs(c.shapValue))
    return ExplanationResponse(
        prediction=result.prediction.value, confidence=result.prediction.confidence, outputValue=float(attribution.output),
        baseValue=float(attribution.base), outputName=result.output.name, method=method(attribution),
        featureContributions=contributions, topFeatures=contributions[:TOP_FEATURES],
        explanation=explanation_text(result.output, contributions, attribution),
        background=result.background, words=result.words, periods=result.periods, items=result.items,
        baseValueMeans=result.base_value_means,
        modelId=model.pk, modelVersion=model.version, processingTime=_ms(started), cached=False,
    )


def compare_response(model: MLModel, result: Compared, started: float) -> CompareResponse:
    attribution = result.attribution
    differences = sorted(
        (
            Difference(feature=player.feature, label=player.label, value1=player.value, value2=value2,
                       impact=float(attribution.values[i]))
            for i, (player, value2) in enumerate(result.players)
        ),
        key=lambda d: -abs(d.impact),
    )
    first, second = result.predictions
    return CompareResponse(
        differences=differences, explanation=comparison_text(result.output, differences, attribution),
        outputName=result.output.name, outputValue1=float(attribution.base),
        outputValue2=float(attribution.output), prediction1=first.value, prediction2=second.value,
        method=method(attribution),
        modelId=model.pk, modelVersion=model.version, processingTime=_ms(started), cached=False,
    )


def method(attribution: shapley.Attribution) -> Method:
    if attribution.method == "exact":
        return Method(name="exact", evaluations=int(attribution.evaluations))
    errors = attribution.standard_errors
    return Method(
        name="permutation", permutations=attribution.permutations, evaluations=int(attribution.evaluations),
        maxStandardError=float(np.max(errors)) if errors is not None and errors.size else 0.0,
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
