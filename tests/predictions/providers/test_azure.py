"""The `azure-ml` provider against a local server speaking an Azure ML online endpoint's
scoring protocol (MLflow `input_data` and classic `data` styles)."""

from __future__ import annotations

import logging

import pytest

from monitoring.models import Metric
from predictions.providers import provider_for
from registry.models import MLModel
from tests.predictions.providers.conftest import predict, predict_batch, register
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db
KEY = "azure-primary-key-5f1e9c0d2b7a"
ROW = {"amount": 300, "segment": "smb"}


def scoring(request):
    """An MLflow scoring server: split-orientation input, a bare list of probabilities out."""
    if request.headers.get("authorization") != f"Bearer {KEY}":
        return Reply(401, {"message": "key auth failed"})
    body = request.json()
    if "input_data" in body:
        frame = body["input_data"]
        rows = [dict(zip(frame["columns"], values, strict=True)) for values in frame["data"]]
    else:
        rows = body["data"]
    return Reply(200, [round(min(1.0, r["amount"] / 1000 + (0.3 if r["segment"] == "enterprise" else 0)), 4)
                       for r in rows])


@pytest.fixture
def churn(server):
    server.handle = scoring
    return register("azure-churn-v1", "azure-ml", endpoint=f"{server.url}/score", type="classification",
                    credentials={"apiKey": KEY}, config={"deployment": "blue"})


def test_it_scores_through_the_endpoint_with_its_key(api, server, churn):
    response = predict(api, "azure-churn-v1", ROW)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["prediction"] == 0.3
    assert body["confidence"] == pytest.approx(70.0)  # max(p, 1 - p) of the endpoint's own probability
    [request] = server.requests
    assert request.json() == {"input_data": {"columns": ["amount", "segment"], "index": [0], "data": [[300, "smb"]]}}
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["azureml-model-deployment"] == "blue"


def test_it_sends_a_batch_in_one_call(api, server, churn):
    rows = [{"amount": 100, "segment": "smb"}, {"amount": 100, "segment": "enterprise"}, {"amount": 900, "segment": "smb"}]
    results = predict_batch(api, "azure-churn-v1", rows).json()["results"]
    assert [r["prediction"] for r in results] == [0.1, 0.4, 0.9]
    assert len(server.requests) == 1
    assert server.requests[0].json()["input_data"]["index"] == [0, 1, 2]


def test_it_speaks_the_classic_data_style(api, server):
    server.handle = scoring
    register("azure-classic-v1", "azure-ml", endpoint=f"{server.url}/score", type="classification",
             credentials={"apiKey": KEY}, config={"requestFormat": "data", "response": {"outputKey": "probability"}})
    body = predict(api, "azure-classic-v1", ROW).json()
    assert body["prediction"] == {"probability": 0.3}
    assert server.requests[0].json() == {"data": [ROW]}


def test_it_times_out_with_504(api, server, churn):
    server.queue(Reply(200, [0.5], delay=1.5))
    response = predict(api, "azure-churn-v1", ROW)
    assert response.status_code == 504
    assert len(server.requests) == 1


def test_it_retries_a_5xx_then_succeeds(api, server, churn):
    server.queue(Reply(500, {"message": "upstream"}))
    assert predict(api, "azure-churn-v1", ROW).status_code == 200
    assert len(server.requests) == 2


def test_it_does_not_retry_a_rejected_key(api, server, caplog):
    caplog.set_level(logging.DEBUG)
    server.handle = scoring
    register("azure-wrong-key-v1", "azure-ml", endpoint=f"{server.url}/score", type="classification",
             credentials={"apiKey": "wrong-key-abcdef"})
    response = predict(api, "azure-wrong-key-v1", ROW)
    assert response.status_code == 502 and "HTTP 401" in response.json()["error"]["message"]
    assert len(server.requests) == 1
    assert "wrong-key-abcdef" not in response.content.decode() + caplog.text
    assert Metric.objects.get(model_id="azure-wrong-key-v1").success is False


def test_it_refuses_a_malformed_answer(api, server, churn):
    server.queue(Reply(200, {"unexpected": True}))
    response = predict(api, "azure-churn-v1", ROW)
    assert response.status_code == 502
    assert response.json()["error"]["reason"] == "malformed_response"


def test_it_needs_a_key(staff_api, api, server):
    refused = staff_api.post("/api/v1/models/", {
        "id": "azure-no-key-v1", "name": "x", "version": "1", "type": "classification", "provider": "azure-ml",
        "providerConfig": {"endpoint": f"{server.url}/score"}}, format="json")
    assert refused.status_code == 400
    assert "providerConfig.credentials.apiKey" in refused.json()["error"]["message"]
    # A row stored before registration checked it still never calls without its key.
    register("azure-no-key-v1", "azure-ml", endpoint=f"{server.url}/score", type="classification",
             credentials={"apiKey": "k-123456"})
    MLModel.objects.filter(pk="azure-no-key-v1").update(credentials_encrypted="")
    response = predict(api, "azure-no-key-v1", ROW)
    assert response.status_code == 502
    assert "apiKey" in response.json()["error"]["message"]
    assert server.requests == []


def test_its_health_check_scores_one_example_row(server, churn):
    result = provider_for(churn).health_check(churn)
    assert result.ok, result.detail
    assert server.requests[0].json()["input_data"]["data"] == [[0.0, "smb"]]
