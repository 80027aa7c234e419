"""Health thresholds: the spec's defaults, overridable per model in `healthThresholds`.

Kept free of model imports so the registry can validate a model's overrides in `clean()`.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, float] = {
    "errorRateDegraded": 5.0,  # % of failed predictions from which a model is degraded
    "errorRateUnhealthy": 10.0,  # % above which it is unhealthy
    "p95LatencyMs": 500.0,  # p95 latency from which it is degraded
    "windowSeconds": 300.0,  # how far back health looks
    "driftPValue": 0.01,  # family-wise significance of the per-feature drift tests
    "driftPsi": 0.2,  # population stability index from which a shift matters
    "driftMinSamples": 50.0,  # recent inputs needed before drift is judged
}
LIMITS: dict[str, tuple[float, float]] = {
    "errorRateDegraded": (0, 100), "errorRateUnhealthy": (0, 100), "p95LatencyMs": (0, 3_600_000),
    "windowSeconds": (1, 30 * 86_400), "driftPValue": (0, 1), "driftPsi": (0, 100),
    "driftMinSamples": (2, 100_000),
}


def check_thresholds(raw: Any) -> None:
    """Raise ValueError naming the first unknown key or out-of-range value."""
    if not isinstance(raw, dict):
        raise ValueError("healthThresholds must be an object.")
    for key, value in raw.items():
        if key not in DEFAULTS:
            raise ValueError(f"Unknown health threshold '{key}'; known: {', '.join(DEFAULTS)}.")
        low, high = LIMITS[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"Health threshold '{key}' must be a number from {low:g} to {high:g}.")
    merged = DEFAULTS | raw
    if merged["errorRateDegraded"] > merged["errorRateUnhealthy"]:
        raise ValueError("errorRateDegraded cannot be above errorRateUnhealthy.")


def thresholds_for(overrides: Any) -> dict[str, float]:
    """The defaults with a model's (already validated) overrides applied."""
    if not isinstance(overrides, dict):
        return dict(DEFAULTS)
    return DEFAULTS | {k: float(v) for k, v in overrides.items() if k in DEFAULTS}
