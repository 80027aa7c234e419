"""The prediction pipeline. `predict` and `predict_batch` read top to bottom, one call a
step: resolve model -> choose arm -> validate -> cache lookup -> provider call (the model's
fallback answering when its provider fails) -> cache store -> record (log and metric) ->
after the response, the shadow run of a challenger -> response (a shape of
predictions.serializers, which the API turns into the body)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from itertools import repeat
from operator import itemgetter
from typing import Any, cast

from django.utils import timezone

from core.after_response import after_response
from core.cache import CachedAnswer, Entry, entry_key, shared_cache
from core.metrics import MetricRecord, metrics_record
from core.shapes import body_of
from hotcrm_ai.errors import ApplicationError, Conflict, InvalidInput, ProviderFailed
from ml.base import Prediction, PredictionColumns
from predictions.ab.routing import Route, choose_arm, route_rows
from predictions.ab.shadow import shadow_run
from predictions.features import validate, validate_columns
from predictions.ids import new_prediction_id, new_prediction_ids
from predictions.providers import provider_for
from predictions.recording import (
    PER_ROW_COLUMNS,
    LogColumns,
    LogRow,
    context_columns,
    json_texts,
    log_label,
    prediction_logs_record,
    prediction_logs_record_columns,
    request_metrics,
)
from predictions.serializers import Arm, ConfidenceSource, PredictionMetadata, PredictionResponse, batch_items
from registry.models import MLModel
from registry.selectors import model_get

logger = logging.getLogger(__name__)


@dataclass
class Answer:
    """One row's way through the pipeline."""

    route: Route
    features: dict[str, Any]
    cache_key: str = ""
    prediction: Prediction | None = None
    cached: bool = False
    prediction_id: str = field(default_factory=new_prediction_id)
    context: dict[str, Any] | None = None  # the caller's {userId, objectType, objectId}
    fallback_from: str = ""  # the failed model this answer stands in for
    fallback_reason: str = ""

    @property
    def result(self) -> Prediction:
        """The prediction, once the provider step has run (never None past it)."""
        assert self.prediction is not None
        return self.prediction


def predict(
    *, model_id: str, features: Any, context: dict[str, Any] | None = None,
    use_cache: bool = True, forced_arm: str | None = None,
) -> PredictionResponse:
    started = time.perf_counter()
    requested = resolve_model(model_id)
    route = choose_arm(requested, context, forced_arm)
    answer = Answer(route, validate(route.model, features), context=context)
    cache_lookup([answer], use_cache)
    invoke_provider([answer], started, on_failure=answer_by_fallback)
    elapsed = _ms(started)
    cache_store([answer], use_cache)
    record(requested, [answer], elapsed)
    after_response(lambda: shadow_run(requested, [answer], [features]))
    return response(requested, answer, elapsed)


def predict_batch(
    *, model_id: str, rows: Any, use_cache: bool = True, contexts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """As `predict` for many rows, a column at a time: the rows one route answers form a lot,
    validated, answered, recorded and written as a whole. With `contexts`, each row is routed
    and logged with its own. Returns the BatchResponse body; each row's answer equals what
    `predict` answers for it (tests/predictions/test_batch_columns.py)."""
    started = time.perf_counter()
    requested = resolve_model(model_id)
    rows = _batch_rows(rows)
    row_contexts = _batch_contexts(contexts, len(rows))
    routes = route_rows(requested, row_contexts)
    lots = validate_lots(route_lots(routes), rows)
    ids = new_prediction_ids(len(rows))
    lots = cache_lookup_lots(lots, use_cache)
    invoke_provider_lots(lots, ids, started)
    elapsed = _ms(started)
    cache_store_lots(lots)
    record_lots(requested, lots, ids, row_contexts, elapsed)
    if any(route.shadow is not None for route in routes):
        shadowed = [Answer(route, {}, prediction_id=pid, context=context)
                    for route, pid, context in zip(routes, ids, row_contexts, strict=True)]
        after_response(lambda: shadow_run(requested, shadowed, rows))
    return {"results": batch_results(requested, lots, ids, elapsed)}


# --- steps ------------------------------------------------------------------------------

def resolve_model(model_id: Any) -> MLModel:
    if not isinstance(model_id, str) or not model_id:
        raise InvalidInput("'modelId' must be a non-empty string.", code="invalid_model_id")
    model = model_get(model_id)
    if not model.is_active:
        raise Conflict(f"Model '{model_id}' is {model.status}, not active.", code="model_not_active")
    return model


def cache_key(model: MLModel, features: dict[str, Any]) -> str:
    """The answering model, its version and revision (bumped by retraining and by registry
    edits that change answers) and the canonical features, hashed to a bounded length.
    `created_at` tells apart a model deleted and registered again under the same id. The
    model's part is encoded once per loaded model row (as its schema is)."""
    identity = (model.version, model.revision, str(model.created_at))
    prefix = getattr(model, "_cache_key_prefix", None)
    if prefix is None or prefix[0] != identity:
        prefix = (identity, json.dumps(list(identity), separators=(",", ":"), ensure_ascii=False)[:-1])
        model._cache_key_prefix = prefix  # type: ignore[attr-defined]  # a per-row memo
    canonical = prefix[1] + "," + json.dumps(
        canonical_features(features), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    ) + "]"
    return entry_key(model.pk, hashlib.sha256(canonical.encode()).hexdigest())


def canonical_features(value: Any) -> Any:
    """Equal inputs, equal form: 5 and 5.0 are one number (key order is sorted by dumps)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): canonical_features(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_features(v) for v in value]
    return value


def cache_lookup(answers: list[Answer], use_cache: bool) -> None:
    """All the rows in one round trip; `useCache: false` and a TTL of 0 skip the cache."""
    wanted = [a for a in answers if use_cache and a.route.model.cache_ttl > 0]
    for a in wanted:
        a.cache_key = cache_key(a.route.model, a.features)
    found = shared_cache().lookup([a.cache_key for a in wanted])
    for a, hit in zip(wanted, found, strict=True):
        if hit is not None:
            a.prediction = Prediction(hit.prediction, hit.confidence, hit.confidence_source)
            a.cached = True


Fallback = Callable[[MLModel, list["Answer"], ApplicationError, float], bool]


def invoke_provider(answers: list[Answer], started: float, *, on_failure: Fallback) -> None:
    """Send each answering model its uncached rows in one batch call. When a provider fails,
    `on_failure` may answer its rows instead (True); otherwise the failure is raised."""
    by_model: dict[str, list[Answer]] = {}
    for a in answers:
        if a.prediction is None:
            by_model.setdefault(a.route.model.pk, []).append(a)
    for group in by_model.values():
        model = group[0].route.model
        try:
            results = provider_for(model).predict_batch(model, [a.features for a in group])
        except Exception as exc:
            provider_failed(model, group, exc, started, on_failure=on_failure)
            continue
        for a, result in zip(group, results, strict=True):
            a.prediction = result


def provider_failed(model: MLModel, group: list[Answer], exc: Exception, started: float, *,
                    on_failure: Fallback) -> None:
    """A provider's failure on `group`: recorded, then answered by `on_failure` (the
    fallback) or raised as an ApplicationError."""
    if isinstance(exc, ApplicationError):
        _record_failure(model, group, exc, started)
        if not on_failure(model, group, exc, started):
            raise exc
        return
    logger.error("Model %s failed", model.pk, exc_info=exc)
    _record_failure(model, group, exc, started)
    error = ProviderFailed(f"Model '{model.pk}' failed to answer.")
    if not on_failure(model, group, error, started):
        raise error from None


def answer_by_fallback(model: MLModel, group: list[Answer], error: ApplicationError, started: float) -> bool:
    """When a provider failed (502/504), the model's explicitly configured fallback answers
    instead, and the response says so in `metadata.fallbackFrom`. One level only; nothing is
    ever replaced silently, and without a fallback the failure is the answer."""
    if error.status not in (502, 504) or not model.fallback_model_id:
        return False
    fallback = model_get(model.fallback_model_id)
    if not fallback.is_active or fallback.pk == model.pk:
        return False
    try:
        rows = [validate(fallback, a.features) for a in group]
    except InvalidInput:
        logger.warning("Fallback %s of %s cannot take these features", fallback.pk, model.pk)
        return False
    try:
        results = provider_for(fallback).predict_batch(fallback, rows)
    except Exception as exc:
        logger.warning("Fallback %s of %s failed too (%s)", fallback.pk, model.pk, type(exc).__name__)
        _record_failure(fallback, group, exc if isinstance(exc, ApplicationError) else error, started)
        return False
    for a, row, result in zip(group, rows, results, strict=True):
        a.route = replace(a.route, model=fallback)
        a.features, a.prediction = row, result
        a.fallback_from, a.fallback_reason = model.pk, error.code
        a.cache_key = ""  # never cached as the failed model's answer
    return True


def cache_store(answers: list[Answer], use_cache: bool) -> None:
    """The misses in one round trip, each with its model's TTL."""
    shared_cache().store([
        Entry(a.cache_key, CachedAnswer(a.prediction.value, a.prediction.confidence, a.prediction.confidence_source),
              a.route.model.cache_ttl)
        for a in answers
        if use_cache and not a.cached and a.cache_key and a.prediction is not None
    ])


def record(requested: MLModel, answers: list[Answer], elapsed: float) -> None:
    """Queue a log row per answer, each with its answer's context, and the request's
    metrics, per row counts and one latency (predictions.recording, monitoring.services):
    they reach the database after the response, not within this request."""
    now = timezone.now()
    no_context = context_columns(None)
    logs = []
    for a in answers:
        model, value, confidence = a.route.model, a.result.value, a.result.confidence
        user_id, object_type, object_id = no_context if a.context is None else context_columns(a.context)
        logs.append(LogRow(
            id=a.prediction_id, model_id=model.pk, model_version=model.version,
            requested_model_id=requested.pk, ab_arm=a.route.arm or "", provider=model.provider,
            features=a.features, prediction=value, label=log_label(value), confidence=confidence,
            cached=a.cached, shadow=False, user_id=user_id, object_type=object_type,
            object_id=object_id, created_at=now, actual=None, feedback_at=None,
        ))
    try:
        prediction_logs_record(logs)
    except Exception:
        logger.exception("Could not log %d prediction(s)", len(logs))
    metrics_record(request_metrics(
        ((a.route.model, a.route.arm or "", a.cached, a.result.confidence) for a in answers),
        latency_ms=elapsed, timestamp=now,
        # a model that failed and whose rows its fallback answered was timed with its failure
        timed_already={(a.fallback_from, a.route.arm or "") for a in answers if a.fallback_from},
    ))


def response(requested: MLModel, a: Answer, elapsed: float) -> PredictionResponse:
    return responses(requested, [a], elapsed)[0]


def responses(requested: MLModel, answers: list[Answer], elapsed: float) -> list[PredictionResponse]:
    processing = round(elapsed, 3)
    out = []
    for a in answers:
        model, prediction = a.route.model, a.result
        metadata = PredictionMetadata(
            predictionId=a.prediction_id, requestedModelId=requested.pk, abTestArm=cast("Arm | None", a.route.arm),
            provider=model.provider,
            confidenceSource=cast("ConfidenceSource", prediction.confidence_source) if prediction.confidence is not None else None,
        )
        if a.fallback_from:
            metadata.fallbackFrom, metadata.fallbackReason = a.fallback_from, a.fallback_reason
        out.append(PredictionResponse(
            prediction=prediction.value, confidence=prediction.confidence, modelId=model.pk,
            modelVersion=model.version, processingTime=processing, cached=a.cached, metadata=metadata,
        ))
    return out


# --- batch steps: the same steps over lots of rows --------------------------------------

@dataclass
class Lot:
    """Rows of a batch answered alike: by one model on one arm, from the cache or not."""

    route: Route
    at: list[int]  # the rows' positions in the batch, ascending
    features: list[dict[str, Any]] = field(default_factory=list)  # cleaned, one per row
    cached: bool = False
    cache_keys: list[str] = field(default_factory=list)
    answers: PredictionColumns | None = None
    fallback_from: str = ""
    fallback_reason: str = ""


def route_lots(routes: list[Route]) -> list[Lot]:
    """The rows grouped by the model and arm their route drew, in order of first row."""
    first = routes[0]
    if all(route is first for route in routes):  # no A/B test: route_rows chose once
        return [Lot(first, list(range(len(routes))))]
    lots: dict[tuple[str, str | None], Lot] = {}
    for i, route in enumerate(routes):
        lots.setdefault((route.model.pk, route.arm), Lot(route, [])).at.append(i)
    return list(lots.values())


def validate_lots(lots: list[Lot], rows: list[Any]) -> list[Lot]:
    """Each lot's rows checked against its model a column at a time. When a lot cannot be
    proven valid so, its rows are validated one by one in batch order, so the error raised is
    the first bad row's, worded as `validate` words it."""
    unproven = []
    for lot in lots:
        part = rows if len(lot.at) == len(rows) else [rows[i] for i in lot.at]
        cleaned = validate_columns(lot.route.model, part)
        if cleaned is None:
            unproven.append(lot)
        else:
            lot.features = cleaned
    if unproven:
        model_of = {i: lot.route.model for lot in unproven for i in lot.at}
        checked = {i: validate(model_of[i], rows[i], row=i) for i in sorted(model_of)}
        for lot in unproven:
            lot.features = [checked[i] for i in lot.at]
    return lots


def cache_lookup_lots(lots: list[Lot], use_cache: bool) -> list[Lot]:
    """As `cache_lookup`, all rows in one round trip; a lot's cached rows become a lot of
    their own. Without the cache (`useCache: false`, a TTL of 0) no row has a key."""
    wanted = [lot for lot in lots if use_cache and lot.route.model.cache_ttl > 0]
    if not wanted:
        return lots
    for lot in wanted:
        lot.cache_keys = [cache_key(lot.route.model, features) for features in lot.features]
    found = iter(shared_cache().lookup([key for lot in wanted for key in lot.cache_keys]))
    out = []
    for lot in lots:
        if not lot.cache_keys:
            out.append(lot)
            continue
        hits = [next(found) for _ in lot.at]
        taken = [(i, hit) for i, hit in enumerate(hits) if hit is not None]
        if taken:
            out.append(Lot(lot.route, [lot.at[i] for i, _ in taken], [lot.features[i] for i, _ in taken],
                           cached=True, answers=PredictionColumns([hit.prediction for _, hit in taken],
                                                                  [hit.confidence for _, hit in taken],
                                                                  [hit.confidence_source for _, hit in taken])))
            missed = [i for i, hit in enumerate(hits) if hit is None]
            lot.at, lot.features = [lot.at[i] for i in missed], [lot.features[i] for i in missed]
            lot.cache_keys = [lot.cache_keys[i] for i in missed]
        if lot.at:
            out.append(lot)
    return out


def invoke_provider_lots(lots: list[Lot], ids: list[str], started: float) -> None:
    """Each lot not answered by the cache goes to its model in one call; a failure is
    recorded and answered by the model's fallback as `invoke_provider` does."""
    for lot in lots:
        if lot.answers is not None:
            continue
        model = lot.route.model
        try:
            lot.answers = provider_for(model).predict_columns(model, lot.features)
        except Exception as exc:
            group = [Answer(lot.route, features, prediction_id=ids[i])
                     for i, features in zip(lot.at, lot.features, strict=True)]
            provider_failed(model, group, exc, started, on_failure=answer_by_fallback)
            lot.route, lot.features = group[0].route, [a.features for a in group]
            lot.answers = PredictionColumns.of([a.result for a in group])
            lot.fallback_from, lot.fallback_reason = group[0].fallback_from, group[0].fallback_reason
            lot.cache_keys = []  # never cached as the failed model's answer


def cache_store_lots(lots: list[Lot]) -> None:
    """As `cache_store`: the rows the model answered, each with its model's TTL."""
    entries = []
    for lot in lots:
        if lot.cached or not lot.cache_keys or lot.answers is None:
            continue
        ttl, answers = lot.route.model.cache_ttl, lot.answers
        entries += [Entry(key, CachedAnswer(value, confidence, source), ttl) for key, value, confidence, source
                    in zip(lot.cache_keys, answers.values, answers.confidences, answers.sources, strict=True)]
    if entries:
        shared_cache().store(entries)


def record_lots(requested: MLModel, lots: list[Lot], ids: list[str], contexts: list[dict[str, Any] | None],
                elapsed: float) -> None:
    """As `record`, as columns: a log row per row, with its own context, in batch order
    (predictions.recording writes them with COPY), and the request's metrics."""
    now = timezone.now()
    at = [i for lot in lots for i in lot.at]
    values = [v for lot in lots for v in _answered(lot).values]
    logs = LogColumns(
        ids=[ids[i] for i in at],
        model_ids=[m for lot in lots for m in repeat(lot.route.model.pk, len(lot.at))],
        versions=[v for lot in lots for v in repeat(lot.route.model.version, len(lot.at))],
        arms=[a for lot in lots for a in repeat(lot.route.arm or "", len(lot.at))],
        providers=[p for lot in lots for p in repeat(lot.route.model.provider, len(lot.at))],
        features=json_texts([f for lot in lots for f in lot.features]), predictions=json_texts(values),
        labels=list(map(log_label, values)), confidences=[c for lot in lots for c in _answered(lot).confidences],
        cached=[c for lot in lots for c in repeat(lot.cached, len(lot.at))], shadow=[False] * len(at),
        requested_model_id=requested.pk, created_at=now,
    )
    if any(context is not None for context in contexts):
        columns = [context_columns(contexts[i]) for i in at]
        logs.user_ids, logs.object_types, logs.object_ids = (list(c) for c in zip(*columns, strict=True))
    else:
        logs.object_types = logs.object_ids = [""] * len(at)
    if len(lots) > 1:  # in batch order, as the rows came
        order = sorted(range(len(at)), key=at.__getitem__)
        for name in PER_ROW_COLUMNS:
            column = getattr(logs, name)
            setattr(logs, name, [column[j] for j in order])
        if logs.user_ids is not None:
            logs.user_ids = [logs.user_ids[j] for j in order]
    try:
        prediction_logs_record_columns(logs)
    except Exception:
        logger.exception("Could not log %d prediction(s)", len(at))
    metrics_record(request_metrics(
        _answered_rows(lots), latency_ms=elapsed, timestamp=now,
        timed_already={(lot.fallback_from, lot.route.arm or "") for lot in lots if lot.fallback_from},
    ))


def _answered(lot: Lot) -> PredictionColumns:
    """The lot's answers (set once the provider step has run)."""
    assert lot.answers is not None
    return lot.answers


def _answered_rows(lots: list[Lot]) -> Iterable[tuple[MLModel, str, bool, float | None]]:
    """(model, arm, cached, confidence) of every row in batch order, as `record` reads them."""
    if len(lots) == 1:
        lot = lots[0]
        return zip(repeat(lot.route.model), repeat(lot.route.arm or ""), repeat(lot.cached),
                   _answered(lot).confidences)
    rows = [(lot.at[j], lot.route.model, lot.route.arm or "", lot.cached, confidence)
            for lot in lots for j, confidence in enumerate(_answered(lot).confidences)]
    rows.sort(key=itemgetter(0))
    return (row[1:] for row in rows)


def batch_results(requested: MLModel, lots: list[Lot], ids: list[str], elapsed: float) -> list[dict[str, Any]]:
    """The body of each row, in batch order. Each lot's rows share everything but their
    prediction, confidence and id, so one body built from the shapes (`response`) is the
    template its rows copy: the same keys in the same order, a dict copy a row."""
    results: list[dict[str, Any]] = [{}] * len(ids)
    for lot in lots:
        model, answers = lot.route.model, _answered(lot)
        metadata = PredictionMetadata(
            predictionId="", requestedModelId=requested.pk, abTestArm=cast("Arm | None", lot.route.arm),
            provider=model.provider, confidenceSource=None,
        )
        if lot.fallback_from:
            metadata.fallbackFrom, metadata.fallbackReason = lot.fallback_from, lot.fallback_reason
        template = body_of(PredictionResponse(
            prediction=None, confidence=None, modelId=model.pk, modelVersion=model.version,
            processingTime=round(elapsed, 3), cached=lot.cached, metadata=metadata,
        ))
        meta = template["metadata"]
        for i, value, confidence, source in zip(lot.at, answers.values, answers.confidences, answers.sources,
                                                strict=True):
            results[i] = {**template, "prediction": value, "confidence": confidence, "metadata": {
                **meta, "predictionId": ids[i], "confidenceSource": None if confidence is None else source}}
    return results


# --- helpers ----------------------------------------------------------------------------

def _batch_rows(rows: Any) -> list[Any]:
    return batch_items(rows, key="features", noun="rows", what="feature objects")


def _batch_contexts(contexts: list[dict[str, Any]] | None, rows: int) -> list[dict[str, Any] | None]:
    if contexts is None:
        return [None] * rows
    if len(contexts) != rows:
        raise InvalidInput(f"'contexts' must hold one context per row: {rows} rows, {len(contexts)} contexts.",
                           code="contexts_mismatch")
    return list(contexts)


def _record_failure(model: MLModel, group: list[Answer], exc: Exception, started: float) -> None:
    """One failed record per arm of the rows `model` did not answer, carrying their count
    and the request's latency so far."""
    now = timezone.now()
    code = getattr(exc, "code", "provider_failed")
    message = getattr(exc, "message", type(exc).__name__)
    arms = Counter(a.route.arm or "" for a in group)
    metrics_record([
        MetricRecord(
            model_id=model.pk, model_version=model.version, timestamp=now, latency_ms=_ms(started),
            confidence=None, cached=False, success=False, provider=model.provider,
            ab_arm=arm, error=str(message)[:500], error_code=str(code)[:50], rows=rows,
        )
        for arm, rows in arms.items()
    ])


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
