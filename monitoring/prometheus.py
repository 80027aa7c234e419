"""Prometheus counters and latency histograms, exposed at /metrics.

Under gunicorn `PROMETHEUS_MULTIPROC_DIR` is set (gunicorn.conf.py) before this module is
imported, so prometheus-client keeps every worker's values in its own mmap file and
/metrics adds them up across workers (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from core.metrics import MetricRecord

LABELS = ("model", "version", "arm", "provider", "cached")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SHADOW = "shadow"  # registry.models.AbArm.SHADOW

# Counts are per prediction (a batch row); latency is one observation per request, model and
# arm (core.metrics.MetricRecord.timed), labelled cached="true" only when every row it
# answered came from the cache. A challenger's shadow runs are counted apart from served
# predictions, so the served figures (and the alert rules over them) leave them out.
PREDICTIONS = Counter(
    "hotcrm_predictions", "Predictions served (one per batch row), by model and outcome; shadow runs not included.",
    [*LABELS, "outcome"],
)
LATENCY = Histogram(
    "hotcrm_prediction_latency_seconds",
    "Time to answer a prediction request: one observation per request (a batch is one), model and arm.",
    LABELS, buckets=LATENCY_BUCKETS,
)
SHADOW_RUNS = Counter(
    "hotcrm_shadow_runs", "A/B challengers' shadow runs (one per row; never answered to callers), by outcome.",
    ["model", "version", "provider", "outcome"],
)
SHADOW_LATENCY = Histogram(
    "hotcrm_shadow_latency_seconds", "Time of a challenger's shadow run of one request (after the response).",
    ["model", "version", "provider"], buckets=LATENCY_BUCKETS,
)
EXPLANATIONS = Counter(
    "hotcrm_explanations", "Explanations and comparisons answered or failed, by model and outcome.",
    ["model", "version", "provider", "cached", "outcome"],
)
EXPLANATION_LATENCY = Histogram(
    "hotcrm_explanation_latency_seconds", "Time to answer an explanation or comparison request.",
    ["model", "version", "provider", "cached"], buckets=LATENCY_BUCKETS,
)
METRIC_STORE_FAILURES = Counter(
    "hotcrm_metric_store_failures",
    "Attempts to store buffered metrics in the database that failed (the records are kept for the next flush).",
)
# Calls to remote providers are counted where they are made (predictions.providers.telemetry).


def observe(records: Iterable[MetricRecord]) -> None:
    for r in records:
        cached, outcome = "true" if r.cached else "false", "success" if r.success else "error"
        if r.kind == "explanation":
            EXPLANATIONS.labels(r.model_id, r.model_version, r.provider, cached, outcome).inc(r.rows)
            if r.timed:
                EXPLANATION_LATENCY.labels(r.model_id, r.model_version, r.provider, cached).observe(r.latency_ms / 1000)
        elif r.ab_arm == SHADOW:
            SHADOW_RUNS.labels(r.model_id, r.model_version, r.provider, outcome).inc(r.rows)
            if r.timed:
                SHADOW_LATENCY.labels(r.model_id, r.model_version, r.provider).observe(r.latency_ms / 1000)
        else:
            labels = (r.model_id, r.model_version, r.ab_arm or "none", r.provider, cached)
            PREDICTIONS.labels(*labels, outcome).inc(r.rows)
            if r.timed:
                LATENCY.labels(*labels).observe(r.latency_ms / 1000)


# Collectors other apps add, read at each scrape (alerts: the incidents firing now).
_EXTRA = CollectorRegistry(auto_describe=False)


def register_collector(collector: Collector) -> None:
    _EXTRA.register(collector)


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(_EXTRA), CONTENT_TYPE_LATEST
