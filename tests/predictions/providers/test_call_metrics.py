"""/metrics counts calls to remote providers: each call's outcome (success or why it failed),
its duration, the retries it took and the state of each model's circuit breaker. The
provider is a KServe V1 server on loopback, called through httpx."""

from __future__ import annotations

import time

import pytest

from tests.monitoring.metrics_text import samples, scrape, total
from tests.predictions.providers.conftest import predict, predict_batch, register
from tests.predictions.providers.servers import Reply
from tests.predictions.providers.test_custom import ROW, kserve

pytestmark = pytest.mark.django_db


class Scrapes:
    """Differences of /metrics figures for one model since the first scrape."""

    def __init__(self, client, model_id: str) -> None:
        self.client, self.model_id = client, model_id
        self.before = scrape(client)

    def delta(self, name: str, **labels: str) -> float:
        labels = {"model": self.model_id, **labels}
        return total(scrape(self.client), name, **labels) - total(self.before, name, **labels)


def circuit(client, model_id: str) -> dict[str, float]:
    return {s.labels["state"]: s.value for s in samples(scrape(client), "hotcrm_provider_circuit_state")
            if s.labels["model"] == model_id}


def test_it_counts_calls_failures_by_reason_and_retries(api, client, server):
    server.handle = kserve
    register("deal-metrics", "custom", endpoint=f"{server.url}/v1/models/deal:predict")
    seen = Scrapes(client, "deal-metrics")

    assert predict(api, "deal-metrics", ROW).status_code == 200
    server.queue(Reply(503, {"error": "busy"}))
    assert predict(api, "deal-metrics", {**ROW, "amount": 1}).status_code == 200  # one retry, then success
    server.queue(*[Reply(500, {"error": "down"})] * 3)
    assert predict(api, "deal-metrics", {**ROW, "amount": 2}).status_code == 502  # 2 retries, then given up
    server.queue(Reply(200, {"predictions": [1]}, delay=1.5))
    assert predict(api, "deal-metrics", {**ROW, "amount": 3}).status_code == 504
    server.queue(Reply(200, b"<html>not json</html>"))
    assert predict(api, "deal-metrics", {**ROW, "amount": 4}).status_code == 502
    assert predict_batch(api, "deal-metrics", [{**ROW, "amount": a} for a in range(5, 25)]).status_code == 200

    calls = "hotcrm_provider_calls_total"
    assert seen.delta(calls, outcome="success", provider="custom") == 3  # the batch is one call
    assert seen.delta(calls, outcome="http_500") == 1
    assert seen.delta(calls, outcome="timeout") == 1
    assert seen.delta(calls, outcome="malformed_response") == 1
    assert seen.delta(calls) == 6
    assert seen.delta("hotcrm_provider_retries_total", reason="http_503") == 1
    assert seen.delta("hotcrm_provider_retries_total", reason="http_500") == 2
    assert seen.delta("hotcrm_provider_retries_total") == 3
    assert seen.delta("hotcrm_provider_call_duration_seconds_count") == 6
    # the timed-out call waited at least its 0.5 s read timeout
    assert seen.delta("hotcrm_provider_call_duration_seconds_sum") >= 0.5
    assert len(server.requests) == 1 + 2 + 3 + 1 + 1 + 1
    # predictions are counted as before, per row: 1 + 1 + 1 failed + 1 failed + 1 failed + 20
    assert seen.delta("hotcrm_predictions_total", outcome="success") == 22
    assert seen.delta("hotcrm_predictions_total", outcome="error") == 3


def test_it_shows_the_circuit_state_and_counts_calls_it_refused(api, client, server):
    server.handle = kserve
    register("flaky-metrics", "custom", endpoint=f"{server.url}/flaky",
             config={"retries": 0, "circuitFailureThreshold": 2, "circuitOpenSeconds": 0.5})
    seen = Scrapes(client, "flaky-metrics")
    assert circuit(client, "flaky-metrics") == {"closed": 1, "open": 0, "half-open": 0}

    server.queue(Reply(503), Reply(503))
    assert predict(api, "flaky-metrics", ROW).status_code == 502
    assert predict(api, "flaky-metrics", ROW).status_code == 502
    assert circuit(client, "flaky-metrics") == {"closed": 0, "open": 1, "half-open": 0}
    assert predict(api, "flaky-metrics", ROW).json()["error"]["reason"] == "circuit_open"
    assert seen.delta("hotcrm_provider_calls_total", outcome="http_503") == 2
    assert seen.delta("hotcrm_provider_calls_total", outcome="circuit_open") == 1
    assert seen.delta("hotcrm_provider_call_duration_seconds_count") == 2  # the refused call took no time

    time.sleep(0.6)
    assert circuit(client, "flaky-metrics") == {"closed": 0, "open": 0, "half-open": 1}
    assert predict(api, "flaky-metrics", ROW).status_code == 200  # the trial call closes it
    assert circuit(client, "flaky-metrics") == {"closed": 1, "open": 0, "half-open": 0}


def test_it_leaves_built_in_models_out_of_the_circuit_states(client):
    models = {s.labels["model"] for s in samples(scrape(client), "hotcrm_provider_circuit_state")}
    assert "lead-scoring-v1" not in models
