"""A model's health: the spec's rules over recent traffic, plus input drift."""

from __future__ import annotations

from typing import Any

from monitoring.drift import model_drift
from monitoring.selectors import model_stats
from monitoring.thresholds import thresholds_for
from registry.models import MLModel

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


def model_health(model: MLModel, *, stats: dict[str, Any] | None = None,
                 drift: dict[str, Any] | None = None) -> dict[str, Any]:
    """`{status, reason?, details}`. Unhealthy: errors > errorRateUnhealthy %. Degraded:
    errors >= errorRateDegraded %, p95 >= p95LatencyMs, or inputs drifting. Else healthy."""
    limits = thresholds_for(model.health_thresholds)
    window = int(limits["windowSeconds"])
    stats = stats if stats is not None else model_stats(model.pk, window=window)
    drift = drift if drift is not None else model_drift(model)
    status, reason = _judge(stats, drift, limits, window)
    body: dict[str, Any] = {"status": status}
    if reason:
        body["reason"] = reason
    body["details"] = {
        "windowSeconds": window, "traffic": stats["totalPredictions"] > 0,
        "totalPredictions": stats["totalPredictions"], "errorRate": stats["errorRate"],
        "p95Latency": stats["p95Latency"], "driftingFeatures": drift["drifting"], "thresholds": limits,
    }
    return body


def _judge(stats: dict[str, Any], drift: dict[str, Any], limits: dict[str, float], window: int) -> tuple[str, str]:
    errors, p95 = stats["errorRate"], stats["p95Latency"]
    if stats["totalPredictions"] and errors > limits["errorRateUnhealthy"]:
        return UNHEALTHY, f"Error rate {errors:.1f}% is above {limits['errorRateUnhealthy']:g}%."
    problems = []
    if stats["totalPredictions"] and errors >= limits["errorRateDegraded"]:
        problems.append(f"error rate {errors:.1f}% is at least {limits['errorRateDegraded']:g}%")
    if p95 is not None and p95 >= limits["p95LatencyMs"]:
        problems.append(f"p95 latency {p95:.0f} ms is at least {limits['p95LatencyMs']:g} ms")
    if drift["drifting"]:
        named = ", ".join(drift["drifting"])
        problems.append(f"input drift in {named} compared with {drift['comparedWith']}")
    if problems:
        text = "; ".join(problems)
        return DEGRADED, text[0].upper() + text[1:] + "."
    if not stats["totalPredictions"]:
        return HEALTHY, f"No predictions in the last {_duration(window)}."
    return HEALTHY, ""


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"
