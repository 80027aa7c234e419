"""A provider that hangs or fails: a `custom` model in front of a local HTTP server that
sleeps past the model's timeout (or answers 500) gets 504/502s, its circuit opens so later
calls fail without reaching the endpoint, its health turns unhealthy, and a local built-in
model keeps answering 200 throughout."""

from __future__ import annotations

import pytest

from monitoring.models import Metric
from tests.monitoring.support import CHURN
from tests.predictions.providers.conftest import predict, register
from tests.predictions.providers.servers import LocalServer, Reply

pytestmark = pytest.mark.django_db
ROW = {"amount": 120, "segment": "enterprise"}
# A short timeout keeps the test fast; the server sleeps well past it.
CONFIG = {"timeout": 0.3, "retries": 0, "circuitFailureThreshold": 2, "circuitOpenSeconds": 60}


@pytest.fixture
def server():
    server = LocalServer()
    yield server
    server.close()


def local_ok(api) -> None:
    response = predict(api, "churn-prediction-v1", CHURN)
    assert response.status_code == 200, response.content
    assert response.json()["metadata"]["provider"] == "local"


def health(api, model_id: str) -> dict:
    response = api.get(f"/api/v1/models/{model_id}/health/")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(("reply", "status", "reason"), [
    (Reply(200, {"predictions": [{"score": 1}]}, delay=1.0), 504, "provider_timeout"),
    (Reply(500, {"error": "boom"}), 502, "http_status"),
], ids=["hangs", "fails"])
def test_a_bad_provider_times_out_opens_its_circuit_and_turns_unhealthy_while_local_models_answer(
        api, server, reply, status, reason):
    server.handle = lambda request: reply
    register("bad-provider-v1", "custom", endpoint=f"{server.url}/v1/models/deal:predict", config=CONFIG)
    local_ok(api)
    for _ in range(2):
        response = predict(api, "bad-provider-v1", ROW)
        assert response.status_code == status, response.content
        error = response.json()["error"]
        assert error["code"] == reason or error.get("reason") == reason
        local_ok(api)
    assert len(server.requests) == 2
    for _ in range(3):  # the circuit is open: answered at once, the endpoint is not called
        blocked = predict(api, "bad-provider-v1", ROW)
        assert blocked.status_code == 502 and blocked.json()["error"]["reason"] == "circuit_open"
        local_ok(api)
    assert len(server.requests) == 2
    assert Metric.objects.filter(model_id="bad-provider-v1", success=False).count() == 5
    assert health(api, "bad-provider-v1")["status"] == "unhealthy"
    assert health(api, "churn-prediction-v1")["status"] == "healthy"
    assert Metric.objects.filter(model_id="churn-prediction-v1", success=True).count() == 6
