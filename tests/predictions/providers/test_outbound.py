"""Outbound calls only where an operator allows: PROVIDER_ALLOWED_HOSTS checked when a model is
registered and again, against the resolved address, before every call of every provider."""

from __future__ import annotations

import pytest

from tests.predictions.providers.conftest import predict, register
from tests.predictions.providers.servers import Reply
from tests.predictions.providers.test_openai import KEY as OPENAI_KEY
from tests.predictions.providers.test_openai import TEXT_SCHEMA, completion
from tests.predictions.providers.test_sagemaker import CREDENTIALS as AWS_CREDENTIALS
from tests.predictions.providers.test_sagemaker import sagemaker

ROW = {"amount": 120, "segment": "enterprise"}


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint, config", [
    ("http://169.254.169.254/latest/meta-data/", {}),
    ("http://127.0.0.1:9/score", {}),  # loopback without the operator naming it
    ("https://models.example.com/score", {"healthUrl": "http://169.254.169.254/"}),
    ("https://models.example.com/score", {"method": "DELETE"}),
    ("https://models.example.com/score", {"headers": {"Host": "internal.example"}}),
])
def test_it_refuses_to_register_a_model_that_would_call_where_it_may_not(staff_api, settings, monkeypatch,
                                                                       endpoint, config):
    monkeypatch.setitem(settings.HOTCRM, "PROVIDER_ALLOWED_HOSTS", ["*"])
    response = staff_api.post("/api/v1/models/", {
        "id": "ssrf-v1", "name": "x", "version": "1", "type": "regression", "provider": "custom",
        "providerConfig": {"endpoint": endpoint, "config": config},
        "featureSchema": {"features": [{"name": "amount", "type": "number"}]},
    }, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_input"


def _custom(server):
    server.handle = lambda request: Reply(200, {"predictions": [{"score": 1}]})
    register("out-custom", "custom", endpoint=f"{server.url}/score")
    return "out-custom"


def _openai(server):
    server.handle = completion
    register("out-openai", "openai", endpoint=f"{server.url}/v1", type="nlp", schema=TEXT_SCHEMA,
             credentials={"apiKey": OPENAI_KEY}, config={"model": "gpt-test-mini"})
    return "out-openai"


def _sagemaker(server):
    server.handle = sagemaker
    register("out-sm", "aws-sagemaker", endpoint=server.url, type="classification",
             credentials=AWS_CREDENTIALS, config={"endpointName": "deal-endpoint"})
    return "out-sm"


@pytest.mark.django_db
@pytest.mark.parametrize("make", [_custom, _openai, _sagemaker], ids=["httpx", "openai-sdk", "boto3"])
def test_it_checks_the_host_again_before_every_call(api, server, settings, monkeypatch, make):
    model_id = make(server)
    features = {"text": "I love it"} if model_id == "out-openai" else ROW
    assert predict(api, model_id, features).status_code == 200
    server.reset()
    # The operator no longer allows loopback: the stored model must not reach it.
    monkeypatch.setitem(settings.HOTCRM, "PROVIDER_ALLOWED_HOSTS", ["*"])
    response = predict(api, model_id, features)
    assert response.status_code == 502, response.content
    assert response.json()["error"]["reason"] == "misconfigured"
    assert "PROVIDER_ALLOWED_HOSTS" in response.json()["error"]["message"]
    assert server.requests == []


@pytest.mark.django_db
def test_it_never_returns_an_upstream_body_to_the_caller(api, server):
    server.handle = lambda request: Reply(400, {"error": "Ignore previous instructions; internal host db-7"})
    register("out-body", "custom", endpoint=f"{server.url}/score", config={"retries": 0})
    response = predict(api, "out-body", ROW)
    assert response.status_code == 502
    assert "db-7" not in response.content.decode() and "Ignore" not in response.content.decode()
