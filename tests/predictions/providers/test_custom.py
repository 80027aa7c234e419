"""The `custom` provider (KServe V1 by default) through httpx against a local server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings

from monitoring.models import Metric
from predictions.providers.resilience import CallPolicy, CircuitBreaker
from registry.models import MLModel
from tests.predictions.providers.conftest import predict, predict_batch, register
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db
SECRET = "sk-custom-0123456789-very-secret"
ROW = {"amount": 120, "segment": "enterprise"}


def kserve(request):
    """A tiny real model: deal score from amount and segment, confidence from the amount."""
    if request.method == "GET":
        return Reply(200, {"name": "deal", "ready": True})
    rows = request.json()["instances"]
    return Reply(200, {"predictions": [
        {"score": r["amount"] * 2 + (50 if r["segment"] == "enterprise" else 0), "confidence": r["amount"] / 1000}
        for r in rows
    ]})


@pytest.fixture
def deal(server):
    server.handle = kserve
    return register("deal-v1", "custom", endpoint=f"{server.url}/v1/models/deal:predict",
                    credentials={"apiKey": SECRET})


def test_it_predicts_through_a_kserve_endpoint(api, server, deal):
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["prediction"] == {"score": 290}
    assert body["confidence"] == pytest.approx(12.0)
    assert body["metadata"]["provider"] == "custom"
    [request] = server.requests
    assert request.path == "/v1/models/deal:predict"
    assert request.json() == {"instances": [ROW]}
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_it_sends_a_batch_in_one_call_and_answers_in_order(api, server, deal):
    rows = [{"amount": a, "segment": s} for a, s in [(10, "smb"), (500, "enterprise"), (70, "smb")]]
    response = predict_batch(api, "deal-v1", rows)
    assert response.status_code == 200, response.content
    assert [r["prediction"]["score"] for r in response.json()["results"]] == [20, 1050, 140]
    assert len(server.requests) == 1
    assert server.requests[0].json() == {"instances": rows}


def test_it_answers_504_when_the_endpoint_sleeps_past_the_timeout(api, server, deal):
    server.queue(Reply(200, {"predictions": [1]}, delay=1.5))
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "provider_timeout"
    assert len(server.requests) == 1  # a read timeout is not retried
    metric = Metric.objects.get(model_id="deal-v1")
    assert not metric.success and metric.error_code == "provider_timeout"


def test_it_retries_5xx_and_then_succeeds(api, server, deal):
    server.queue(Reply(503, {"error": "busy"}), Reply(502, b"bad gateway"))
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 200, response.content
    assert response.json()["prediction"] == {"score": 290}
    assert len(server.requests) == 3


def test_it_gives_up_after_its_bounded_retries(api, server, deal):
    server.queue(*[Reply(500, {"error": "down"})] * 5)
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 502
    assert "after 3 attempts" in response.json()["error"]["message"]
    assert len(server.requests) == 3


def test_it_honours_retry_after_on_429(api, server, deal):
    server.queue(Reply(429, {"error": "slow down"}, headers={"Retry-After": "0.4"}))
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 200
    first, second = server.requests
    assert second.received - first.received >= 0.35


def test_it_does_not_wait_longer_than_its_limit_for_retry_after(api, server, deal):
    server.queue(Reply(429, {"error": "come back tomorrow"}, headers={"Retry-After": "3600"}))
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 502
    assert len(server.requests) == 1


def test_it_does_not_retry_a_4xx(api, server, deal):
    server.queue(Reply(400, {"error": "instances[0].amount: unexpected"}))
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "provider_failed" and "HTTP 400" in error["message"]
    assert len(server.requests) == 1


@pytest.mark.parametrize("reply", [
    Reply(200, b"<html>not json</html>"),
    Reply(200, {"predictions": [1, 2]}),
    Reply(200, {"outputs": [1]}),
    Reply(200, {"predictions": [{"score": 1, "confidence": "high"}]}),
    Reply(200, {"predictions": [{"score": 1, "confidence": 7.5e9}]}),
])
def test_it_refuses_a_malformed_answer(api, server, deal, reply):
    server.queue(reply)
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 502
    assert response.json()["error"]["reason"] == "malformed_response"
    assert len(server.requests) == 1


def test_it_opens_the_circuit_after_repeated_failures_and_closes_it_after_a_trial(api, server):
    server.handle = kserve
    register("flaky-v1", "custom", endpoint=f"{server.url}/flaky",
             config={"retries": 0, "circuitFailureThreshold": 2, "circuitOpenSeconds": 0.5})
    server.queue(Reply(503), Reply(503))
    assert predict(api, "flaky-v1", ROW).status_code == 502
    assert predict(api, "flaky-v1", ROW).status_code == 502
    blocked = predict(api, "flaky-v1", ROW)
    assert blocked.status_code == 502 and blocked.json()["error"]["reason"] == "circuit_open"
    assert len(server.requests) == 2  # the open circuit did not call the endpoint
    time.sleep(0.6)
    assert predict(api, "flaky-v1", ROW).status_code == 200  # the half-open trial succeeds
    assert predict(api, "flaky-v1", ROW).status_code == 200
    assert len(server.requests) == 4
    assert Metric.objects.filter(model_id="flaky-v1", success=False).count() == 3


def test_a_failed_trial_opens_the_circuit_again(api, server):
    server.handle = kserve
    model = register("flaky-v2", "custom", endpoint=f"{server.url}/flaky2",
                     config={"retries": 0, "circuitFailureThreshold": 1, "circuitOpenSeconds": 0.3})
    server.queue(Reply(500), Reply(500))
    assert predict(api, "flaky-v2", ROW).status_code == 502
    time.sleep(0.35)
    assert predict(api, "flaky-v2", ROW).json()["error"]["reason"] == "http_status"  # the trial
    assert predict(api, "flaky-v2", ROW).json()["error"]["reason"] == "circuit_open"
    state, _ = CircuitBreaker(f"custom|{server.url}/flaky2", CallPolicy.for_model(model)).state()
    assert state == "open"


def test_it_never_shows_or_logs_the_key_even_when_the_endpoint_echoes_it(api, staff_api, server, deal, caplog):
    caplog.set_level(logging.DEBUG)
    server.queue(Reply(401, {"error": f"invalid key {SECRET}"}),
                 Reply(500, {"error": f"crash with {SECRET}"}), Reply(500), Reply(500))
    first = predict(api, "deal-v1", ROW)
    second = predict(api, "deal-v1", ROW)
    listing = staff_api.get("/api/v1/models/deal-v1/")
    assert first.status_code == 502 and second.status_code == 502
    # The status only: the upstream body (and the key it echoes) never reaches the caller.
    assert first.json()["error"]["message"].endswith("HTTP 401")
    assert "invalid key" not in first.content.decode()
    seen = first.content.decode() + second.content.decode() + listing.content.decode() + caplog.text
    assert SECRET not in seen
    assert SECRET not in "".join(Metric.objects.values_list("error", flat=True))
    assert SECRET not in MLModel.objects.get(pk="deal-v1").credentials_encrypted


def test_it_reads_the_key_from_a_named_environment_variable(api, server, monkeypatch):
    server.handle = kserve
    register("env-key-v1", "custom", endpoint=f"{server.url}/env",
             credentials={"apiKeyEnv": "HOTCRM_PROVIDER_TEST_DEAL_KEY"})
    unset = predict(api, "env-key-v1", ROW)
    assert unset.status_code == 502 and "credentials.apiKeyEnv" in unset.json()["error"]["message"]
    monkeypatch.setenv("HOTCRM_PROVIDER_TEST_DEAL_KEY", SECRET)
    assert predict(api, "env-key-v1", ROW).status_code == 200
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"


def test_it_sends_rows_one_by_one_to_an_endpoint_without_batches(api, server):
    def single(request):
        row = request.json()
        return Reply(200, {"result": {"value": row["amount"] + 1, "probability": 0.75}})
    server.handle = single
    register("single-v1", "custom", endpoint=f"{server.url}/score", type="classification", config={
        "request": {"rowsKey": None}, "response": {"predictionsPath": "result"}})
    rows = [{"amount": a, "segment": "smb"} for a in (1, 2, 3)]
    results = predict_batch(api, "single-v1", rows).json()["results"]
    assert [r["prediction"]["value"] for r in results] == [2, 3, 4]
    assert [r["confidence"] for r in results] == [75.0, 75.0, 75.0]
    assert len(server.requests) == 3


def test_it_maps_arrays_and_labels_when_configured(api, server):
    server.handle = lambda request: Reply(200, {"outputs": {"probs": [[0.1, 0.7, 0.2] for _ in request.json()["rows"]]}})
    register("tier-v1", "custom", endpoint=f"{server.url}/tier", type="classification", config={
        "request": {"rowsKey": "rows", "rowFormat": "array", "extra": {"version": 3}},
        "response": {"predictionsPath": "outputs.probs", "labels": ["cold", "warm", "hot"]}})
    body = predict(api, "tier-v1", ROW).json()
    assert body["prediction"]["class"] == "warm" and body["confidence"] == pytest.approx(70.0)
    assert server.requests[0].json() == {"version": 3, "rows": [[120, "enterprise"]]}


def test_a_configured_fallback_answers_and_says_so(api, server):
    lead = MLModel.objects.get(pk="lead-scoring-v1")
    server.queue(*[Reply(503)] * 3)
    register("lead-external-v1", "custom", endpoint=f"{server.url}/lead", type="classification",
             schema=lead.feature_schema, fallback_model=lead)
    features = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
                "job_title": "VP of Sales", "budget": 120000}
    response = predict(api, "lead-external-v1", features)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["modelId"] == "lead-scoring-v1"
    assert body["metadata"]["fallbackFrom"] == "lead-external-v1"
    assert body["metadata"]["fallbackReason"] == "provider_failed"
    assert body["metadata"]["requestedModelId"] == "lead-external-v1"
    assert Metric.objects.get(model_id="lead-external-v1").success is False
    assert Metric.objects.get(model_id="lead-scoring-v1").success is True


def test_without_a_fallback_a_failure_is_a_failure(api, server, deal):
    server.queue(*[Reply(503)] * 3)
    response = predict(api, "deal-v1", ROW)
    assert response.status_code == 502
    assert "fallbackFrom" not in response.content.decode()


def test_its_health_check_asks_kserve_whether_the_model_is_ready(server, deal):
    from predictions.providers import provider_for

    assert provider_for(deal).health_check(deal).ok
    # Readiness, then one example row scored (the model has a schema).
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/v1/models/deal"), ("POST", "/v1/models/deal:predict")]
    server.queue(Reply(200, {"name": "deal", "ready": False}))
    result = provider_for(deal).health_check(deal)
    assert not result.ok and "not ready" in result.detail and result.latency_ms > 0


@pytest.mark.parametrize(("provider", "provider_config", "complaint"), [
    ("custom", {"config": {}}, "providerConfig.endpoint"),
    ("custom", {"endpoint": "ftp://models/x", "config": {}}, "http(s) URL"),
    ("custom", {"endpoint": "http://h/x", "config": {"timeout": "soon"}}, "config.timeout"),
    ("custom", {"endpoint": "http://h/x", "config": {"retries": 50}}, "config.retries"),
    ("custom", {"endpoint": "http://h/x", "config": {"request": {"rowFormat": "xml"}}}, "rowFormat"),
    ("aws-sagemaker", {"config": {}}, "endpointName"),
    ("aws-sagemaker", {"config": {"endpointName": "e", "contentType": "application/xml"}}, "contentType"),
    ("azure-ml", {"endpoint": "https://x.azureml.net/score", "config": {"requestFormat": "rows"}}, "requestFormat"),
    ("openai", {"config": {"task": "classification"}}, "labels"),
])
def test_it_refuses_a_bad_provider_config_with_a_400_and_stores_nothing(staff_api, provider, provider_config, complaint):
    response = staff_api.post("/api/v1/models/", {
        "id": "bad-config-v1", "name": "Bad", "version": "1", "type": "classification", "provider": provider,
        "providerConfig": provider_config}, format="json")
    assert response.status_code == 400, response.content
    assert complaint in response.json()["error"]["message"]
    assert not MLModel.objects.filter(pk="bad-config-v1").exists()


def test_the_circuit_state_lives_in_the_shared_cache(api, server, settings):
    from django.core.cache import caches

    server.handle = kserve
    model = register("shared-state-v1", "custom", endpoint=f"{server.url}/shared",
                     config={"retries": 0, "circuitFailureThreshold": 1})
    server.queue(Reply(500))
    predict(api, "shared-state-v1", ROW)
    breaker = CircuitBreaker(f"custom|{server.url}/shared", CallPolicy.for_model(model))
    # Redis when REDIS_URL is set: every app-server process reads the same keys.
    store = caches["default"]
    assert store.get(breaker.open_key) > time.time()
    assert settings.REDIS_URL is None or "Redis" in type(store).__name__


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="processes share state through Redis only")
def test_a_circuit_opened_by_another_process_stops_this_one(api, server):
    server.handle = kserve
    register("other-process-v1", "custom", endpoint=f"{server.url}/other", config={"circuitFailureThreshold": 2})
    # Another app-server process sees the endpoint fail twice.
    script = (
        "import django, sys; django.setup()\n"
        "from predictions.providers.resilience import CallPolicy, CircuitBreaker\n"
        "breaker = CircuitBreaker(sys.argv[1], CallPolicy.from_config({'circuitFailureThreshold': 2}))\n"
        "breaker.failed(); breaker.failed(); print(breaker.state()[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", script, f"custom|{server.url}/other"], capture_output=True,
                          text=True, timeout=120, cwd=settings.BASE_DIR,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "hotcrm_ai.settings"})
    assert done.stdout.strip() == "open", done.stderr[-2000:]
    response = predict(api, "other-process-v1", ROW)
    assert response.status_code == 502 and response.json()["error"]["reason"] == "circuit_open"
    assert server.requests == []


def test_it_retries_a_refused_connection_and_then_answers_502(api):
    register("nowhere-v1", "custom", endpoint="http://127.0.0.1:9/v1/models/x:predict")
    response = predict(api, "nowhere-v1", ROW)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["reason"] == "connection" and "after 3 attempts" in error["message"]


# --- what real peers showed (MLflow, MLServer) ----------------------------------------------

def test_its_health_check_takes_mlflows_bare_newline_ping_as_ready_then_scores_a_row(server):
    from predictions.providers import provider_for

    def mlflow(request):
        if request.path == "/ping":
            return Reply(200, b"\n", headers={"Content-Type": "application/json"})
        return kserve(request)

    server.handle = mlflow
    model = register("ping-v1", "custom", endpoint=f"{server.url}/invocations",
                     config={"healthUrl": f"{server.url}/ping"})
    result = provider_for(model).health_check(model)
    assert result.ok, result.detail
    assert "scored one example row" in result.detail
    assert [r.path for r in server.requests] == ["/ping", "/invocations"]


def test_its_health_check_fails_when_the_server_is_ready_but_cannot_score(server):
    from predictions.providers import provider_for

    server.handle = lambda request: (Reply(200, {"ready": True}) if request.method == "GET"
                                     else Reply(400, {"error": "unknown column 'amount'"}))
    model = register("ready-but-broken-v1", "custom", endpoint=f"{server.url}/v1/models/deal:predict")
    result = provider_for(model).health_check(model)
    assert not result.ok
    assert "unknown column 'amount'" in result.detail


def test_it_reads_a_class_index_as_a_class_not_as_a_probability(api, server):
    server.handle = lambda request: Reply(200, {"predictions": [1, 0, 0.75]})
    register("index-v1", "custom", endpoint=f"{server.url}/invocations", type="classification")
    rows = [ROW, ROW | {"amount": 1}, ROW | {"amount": 2}]
    results = predict_batch(api, "index-v1", rows).json()["results"]
    assert [r["prediction"] for r in results] == [1, 0, 0.75]
    assert [r["confidence"] for r in results] == [None, None, pytest.approx(75.0)]


def test_it_logs_the_validation_messages_of_a_422_but_never_answers_them(api, server, caplog):
    server.queue(Reply(422, {"detail": [
        {"type": "missing", "loc": ["body", "inputs", 0, "datatype"], "msg": "Field required",
         "input": {"name": "amount", "data": [120]}},
    ]}))
    register("strict-v1", "custom", endpoint=f"{server.url}/invocations")
    response = predict(api, "strict-v1", ROW)
    assert response.status_code == 502
    assert "Field required" not in response.content.decode()  # an upstream body is not an answer
    assert "inputs.0.datatype: Field required" in caplog.text
