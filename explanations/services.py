"""Explanations, read top to bottom like the prediction pipeline:
resolve model -> validate -> cache lookup -> explain (the model's own output) -> response ->
cache store -> metric (kind "explanation")."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np
from django.utils import timezone

from core.cache import shared_cache
from core.metrics import MetricRecord, metrics_record
from explanations.explainers import Charge, Compared, Explained, explainer_for
from explanations.narrative import comparison_text, explanation_text
from hotcrm_ai.errors import ApplicationError
from predictions.features import validate
from predictions.services import resolve_model
from registry.models import MLModel

TOP_FEATURES = 5


def explain(*, model_id: Any, features: Any, use_cache: bool = True, charge: Charge | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    model = resolve_model(model_id)
    cleaned = validate(model, features)
    key = cache_key(model, "explain", cleaned)
    hit = cache_lookup(model, key, use_cache)
    if hit is not None:
        return finish(model, hit, started, cached=True)
    explainer = explainer_for(model, charge)
    body = run(model, started, lambda: explanation_body(explainer.explain(cleaned)))
    cache_store(model, key, body, use_cache)
    return finish(model, body, started, cached=False)


def compare(*, model_id: Any, features1: Any, features2: Any, use_cache: bool = True,
            charge: Charge | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    model = resolve_model(model_id)
    first, second = validate(model, features1), validate(model, features2)
    key = cache_key(model, "compare", [first, second])
    hit = cache_lookup(model, key, use_cache)
    if hit is not None:
        return finish(model, hit, started, cached=True)
    explainer = explainer_for(model, charge)
    body = run(model, started, lambda: comparison_body(explainer.compare(first, second)))
    cache_store(model, key, body, use_cache)
    return finish(model, body, started, cached=False)


# --- steps --------------------------------------------------------------------------------


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


def run(model: MLModel, started: float, work: Any) -> dict[str, Any]:
    """Run the explanation; a failure is recorded as a failed explanation, then raised."""
    try:
        return work()
    except ApplicationError as exc:
        if exc.status >= 500:
            record(model, started, success=False, error=exc)
        raise


def finish(model: MLModel, body: dict[str, Any], started: float, *, cached: bool) -> dict[str, Any]:
    elapsed = (time.perf_counter() - started) * 1000
    confidence = body.get("confidence")
    record(model, started, success=True, cached=cached, confidence=confidence)
    return {
        **body, "modelId": model.pk, "modelVersion": model.version,
        "processingTime": round(elapsed, 3), "cached": cached,
    }


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


# --- response bodies ----------------------------------------------------------------------


def explanation_body(result: Explained) -> dict[str, Any]:
    attribution = result.attribution
    values = np.asarray(attribution.values, dtype=float)
    total = float(np.abs(values).sum())
    contributions = []
    for i, player in enumerate(result.players):
        shap_value = float(values[i])
        share = shap_value / total if total else 0.0
        item = {
            "feature": player.feature, "label": player.label, "value": player.value,
            "shapValue": shap_value, "contribution": round(share, 6), "importance": round(abs(share) * 100, 2),
            **player.extra,
        }
        if attribution.standard_errors is not None:
            item["standardError"] = float(attribution.standard_errors[i])
        contributions.append(item)
    contributions.sort(key=lambda c: -abs(c["shapValue"]))
    body = {
        "prediction": result.prediction.value,
        "confidence": result.prediction.confidence,
        "outputValue": float(attribution.output),
        "baseValue": float(attribution.base),
        "outputName": result.output.name,
        "method": method(attribution),
        "featureContributions": contributions,
        "topFeatures": contributions[:TOP_FEATURES],
        "explanation": explanation_text(result.output, contributions, attribution),
        **result.details,
    }
    return body


def comparison_body(result: Compared) -> dict[str, Any]:
    attribution = result.attribution
    differences = sorted(
        (
            {"feature": player.feature, "label": player.label, "value1": player.value, "value2": value2,
             "impact": float(attribution.values[i])}
            for i, (player, value2) in enumerate(result.players)
        ),
        key=lambda d: -abs(d["impact"]),
    )
    first, second = result.predictions
    return {
        "differences": differences,
        "explanation": comparison_text(result.output, differences, attribution),
        "outputName": result.output.name,
        "outputValue1": float(attribution.base),
        "outputValue2": float(attribution.output),
        "prediction1": first.value,
        "prediction2": second.value,
        "method": method(attribution),
    }


def method(attribution: Any) -> dict[str, Any]:
    if attribution.method == "exact":
        return {"name": "exact", "evaluations": int(attribution.evaluations)}
    errors = attribution.standard_errors
    return {
        "name": "permutation", "permutations": attribution.permutations,
        "evaluations": int(attribution.evaluations),
        "maxStandardError": float(np.max(errors)) if errors is not None and errors.size else 0.0,
    }
