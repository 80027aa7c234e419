"""Whether a rule's condition holds for a model now: plain reads over monitoring's selectors.

One `Facts` per evaluation cycle holds what several rules over the same models share (each
window's stats for every model, read in one query), so a cycle over 200 models costs a
handful of queries per rule rather than several per model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.apps import apps
from django.db import connection
from django.db.models import Sum

from alerts.models import Condition, Level, Rule
from monitoring.health import DEGRADED, UNHEALTHY, model_health
from monitoring.models import Metric
from monitoring.selectors import Sample, summarise
from monitoring.thresholds import thresholds_for
from registry.models import MLModel

logger = logging.getLogger(__name__)
NO_DRIFT: dict[str, Any] = {"drifting": []}


@dataclass(frozen=True)
class Finding:
    """`firing`: the condition holds. `reason`: what a person reads in the notification."""

    firing: bool
    reason: str = ""


CLEAR = Finding(False)


class Facts:
    """Per-cycle reads shared by every rule: stats per (window, model), drift per model."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._stats: dict[int, dict[str, dict[str, Any]]] = {}
        self._drift: dict[str, dict[str, Any]] = {}
        self._traffic_before: dict[tuple[int, int], set[str]] = {}
        self._counts: dict[int, dict[str, int]] = {}

    def stats(self, model_id: str, window: int) -> dict[str, Any]:
        if window not in self._stats:
            self._stats[window] = _stats_by_model(self.now - timedelta(seconds=window))
        return self._stats[window].get(model_id) or summarise(Sample.of([]))

    def drift(self, model: MLModel) -> dict[str, Any]:
        from monitoring.drift import model_drift

        if model.pk not in self._drift:
            try:
                self._drift[model.pk] = model_drift(model)
            except Exception:
                logger.exception("Drift of %s could not be judged", model.pk)
                self._drift[model.pk] = {"available": False, **NO_DRIFT}
        return self._drift[model.pk]

    def predictions(self, model_id: str, window: int) -> int:
        """How many predictions in the window (counted in SQL: no rows read)."""
        if window in self._stats:
            return self.stats(model_id, window)["totalPredictions"]
        if window not in self._counts:
            self._counts[window] = _counts(self.now - timedelta(seconds=window))
        return self._counts[window].get(model_id, 0)

    def had_traffic_before(self, model_id: str, window: int, min_samples: int) -> bool:
        """At least `min_samples` retained predictions older than the window."""
        key = (window, min_samples)
        if key not in self._traffic_before:
            counts = _counts(self.now - timedelta(seconds=window), before=True)
            self._traffic_before[key] = {m for m, n in counts.items() if n >= max(1, min_samples)}
        return model_id in self._traffic_before[key]


def _stats_by_model(since: datetime) -> dict[str, dict[str, Any]]:
    """PerformanceStats figures of every model over one window, from one query.

    Read with a plain cursor and grouped with numpy: Django's per-row iterator was most of a
    cycle over 200 models with 60,000 predictions (bench/alerts.py).
    """
    query = Metric.objects.served().filter(timestamp__gte=since).values_list(
        "model_id", "latency_ms", "success", "cached", "rows", "timed")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return {}
    model_ids, latency, success, cached, weight, timed = zip(*rows, strict=True)
    names, index = np.unique(np.asarray(model_ids, dtype=object), return_inverse=True)
    order = np.argsort(index, kind="stable")
    bounds = np.cumsum(np.bincount(index, minlength=len(names)))[:-1]
    latencies = np.split(np.asarray(latency, dtype=float)[order], bounds)
    successes = np.split(np.asarray(success, dtype=bool)[order], bounds)
    hits = np.split(np.asarray(cached, dtype=bool)[order], bounds)
    weights = np.split(np.asarray(weight, dtype=float)[order], bounds)  # predictions per record
    timings = np.split(np.asarray(timed, dtype=bool)[order], bounds)  # one latency per request
    # Confidence is not judged by any rule: left empty rather than read.
    return {str(name): summarise(Sample(latencies[i], np.full(len(latencies[i]), np.nan), hits[i], successes[i],
                                        weight=weights[i], timed=timings[i]))
            for i, name in enumerate(names)}


def _counts(since: datetime, *, before: bool = False) -> dict[str, int]:
    metrics = Metric.objects.served()
    metrics = metrics.filter(timestamp__lt=since) if before else metrics.filter(timestamp__gte=since)
    return dict(metrics.values("model_id").annotate(n=Sum("rows")).values_list("model_id", "n"))


def evaluate(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    return CHECKS[rule.condition](rule, model, facts)


def _health(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    limits = thresholds_for(model.health_thresholds)
    stats = facts.stats(model.pk, int(limits["windowSeconds"]))
    if stats["totalPredictions"] < rule.min_samples:
        return CLEAR
    # Only `degraded` looks at drift: unhealthy is errors alone, and drift is the costly part.
    drift = facts.drift(model) if rule.level == Level.DEGRADED else NO_DRIFT
    health = model_health(model, stats=stats, drift=drift)
    wanted = {UNHEALTHY} if rule.level == Level.UNHEALTHY else {DEGRADED, UNHEALTHY}
    if health["status"] in wanted:
        return Finding(True, f"{model.pk} is {health['status']}: {health.get('reason', '')}".strip())
    return CLEAR


def _drift(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    drift = facts.drift(model)
    if not drift.get("available") or drift.get("sampleSize", 0) < rule.min_samples or not drift["drifting"]:
        return CLEAR
    named = ", ".join(drift["drifting"])
    return Finding(True, f"{model.pk}: recent inputs drift from the training data in {named}.")


def _error_rate(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    stats = facts.stats(model.pk, rule.for_seconds)
    if stats["totalPredictions"] < rule.min_samples or stats["errorRate"] <= (rule.threshold or 0):
        return CLEAR
    return Finding(True, f"{model.pk}: error rate {stats['errorRate']:.1f}% over the last {rule.for_seconds} s "
                         f"({stats['failedPredictions']} of {stats['totalPredictions']}) is above {rule.threshold:g}%.")


def _p95_latency(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    stats = facts.stats(model.pk, rule.for_seconds)
    p95 = stats["p95Latency"]
    if stats["totalPredictions"] < rule.min_samples or p95 is None or p95 <= (rule.threshold or 0):
        return CLEAR
    return Finding(True, f"{model.pk}: p95 latency {p95:.0f} ms over the last {rule.for_seconds} s "
                         f"is above {rule.threshold:g} ms.")


def _no_traffic(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    if facts.predictions(model.pk, rule.for_seconds):
        return CLEAR
    if not facts.had_traffic_before(model.pk, rule.for_seconds, rule.min_samples):
        return CLEAR
    return Finding(True, f"{model.pk} has had no predictions for {rule.for_seconds} s.")


def _ab_verdict(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    from predictions.ab.report import ab_test_report

    if not model.ab_test_is_running():
        return CLEAR
    report = ab_test_report(model)
    if not report["significance"]["winner"]:
        return CLEAR
    return Finding(True, f"A/B test of {model.pk} against {model.ab_champion_id}: {report['verdict']}.")


def _circuit_open(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    from predictions.providers import provider_for
    from predictions.providers.external import ExternalProvider
    from predictions.providers.resilience import CallPolicy, CircuitBreaker

    if model.provider == "local":
        return CLEAR
    provider = provider_for(model)
    if not isinstance(provider, ExternalProvider):
        return CLEAR
    state, left = CircuitBreaker(provider.target(model), CallPolicy.for_model(model)).state()
    if state != "open":
        return CLEAR
    return Finding(True, f"{model.pk}: calls to its {model.provider} endpoint are paused after repeated "
                         f"failures (circuit open, next trial in about {max(1, round(left))} s).")


# The jobs app feeds `jobFailed` through this one function: failed jobs of a model since a
# time, as (job id, error) pairs. It reads the jobs model when that app is installed.
def failed_jobs(model_id: str, since: datetime) -> list[tuple[Any, str]]:
    try:
        job_model = apps.get_model("jobs", "Job")
    except LookupError:
        return []
    return list(job_model.objects.filter(model_id=model_id, status="failed", finished_at__gte=since)
                .order_by("-finished_at").values_list("id", "error")[:5])


def _job_failed(rule: Rule, model: MLModel, facts: Facts) -> Finding:
    window = rule.for_seconds or 3_600
    failed = failed_jobs(model.pk, facts.now - timedelta(seconds=window))
    if not failed:
        return CLEAR
    job_id, error = failed[0]
    more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
    return Finding(True, f"Bulk scoring job {job_id} of {model.pk} failed{more}: {error}"[:1000])


CHECKS: dict[str, Callable[[Rule, MLModel, Facts], Finding]] = {
    Condition.HEALTH: _health,
    Condition.DRIFT: _drift,
    Condition.ERROR_RATE: _error_rate,
    Condition.P95_LATENCY: _p95_latency,
    Condition.NO_TRAFFIC: _no_traffic,
    Condition.AB_VERDICT: _ab_verdict,
    Condition.CIRCUIT_OPEN: _circuit_open,
    Condition.JOB_FAILED: _job_failed,
}
