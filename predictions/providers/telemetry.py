"""Prometheus metrics of calls to remote providers, counted where they are made
(resilience.guarded_call) and exposed at /metrics with the others (monitoring.prometheus).

- `hotcrm_provider_calls_total{provider, model, outcome}`: one per guarded call, its retries
  included; outcome is `success` or why it failed: `timeout`, `http_<status>`,
  `malformed_response`, `misconfigured`, `upstream_error` (connection), `circuit_open`
  (not attempted), `unexpected`.
- `hotcrm_provider_call_duration_seconds{provider, model}`: the time of each attempted call,
  retries and their backoff included (what the prediction waited for).
- `hotcrm_provider_retries_total{provider, model, reason}`: attempts repeated, by the reason
  of the failure that made them.
- `hotcrm_provider_circuit_state{provider, model, state}` (monitoring.circuits): read from
  the shared cache at each scrape.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    from registry.models import MLModel

SUCCESS, CIRCUIT_OPEN, UNEXPECTED = "success", "circuit_open", "unexpected"

CALLS = Counter(
    "hotcrm_provider_calls", "Calls to remote providers (retries included), by outcome: success or why it failed.",
    ["provider", "model", "outcome"],
)
CALL_DURATION = Histogram(
    "hotcrm_provider_call_duration_seconds", "Time of a call to a remote provider, its retries and waits included.",
    ["provider", "model"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
RETRIES = Counter(
    "hotcrm_provider_retries", "Calls to remote providers attempted again, by the reason the attempt before failed.",
    ["provider", "model", "reason"],
)


def call_finished(model: MLModel, outcome: str, started: float | None) -> None:
    """A guarded call ended with `outcome`; `started` is None when nothing was attempted."""
    CALLS.labels(model.provider, model.pk, outcome).inc()
    if started is not None:
        CALL_DURATION.labels(model.provider, model.pk).observe(time.perf_counter() - started)


def call_retried(model: MLModel, reason: str) -> None:
    RETRIES.labels(model.provider, model.pk, reason).inc()
