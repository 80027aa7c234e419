"""`custom` with `config.protocol: "v2"` (the Open Inference Protocol) against a real Seldon
MLServer serving a scikit-learn pipeline: columnar requests, the probability matrix read back
as class and confidence, readiness, the feature schema imported, explanations, and MLServer's
own error messages shown."""

from __future__ import annotations

import pytest

from predictions.providers import provider_for
from tests.predictions.providers import mlserver
from tests.predictions.providers.conftest import predict, predict_batch, register

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ROWS = [{"amount": 120.0, "segment": "enterprise"}, {"amount": 800.0, "segment": "smb"},
        {"amount": 450.0, "segment": "enterprise"}]
SCHEMA = {"features": [
    {"name": "amount", "type": "number", "min": 0, "max": 1000},
    {"name": "segment", "type": "category", "categories": ["smb", "enterprise"]},
]}


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    server = mlserver.start(tmp_path_factory.mktemp("mlserver"), "deal", ROWS)
    yield server
    server.stop()


def v2_model(peer, model_id="deal-v2", **config):
    return register(model_id, "custom", endpoint=peer.url, type="classification", schema=SCHEMA, config={
        "protocol": "v2", "modelName": "deal", "outputs": ["predict_proba"], "timeout": 10,
        "response": {"labels": peer.classes}, **config})


def test_it_predicts_through_mlserver_with_the_pipelines_own_probabilities(api, peer):
    v2_model(peer)
    body = predict(api, "deal-v2", ROWS[2]).json()
    p = dict(zip(peer.classes, peer.expected[2], strict=True))
    assert body["prediction"]["probabilities"] == pytest.approx(p, abs=1e-9)
    assert body["prediction"]["class"] == max(p, key=p.get)
    assert body["confidence"] == pytest.approx(100 * max(p.values()), abs=1e-4)
    assert body["metadata"]["confidenceSource"] == "model"


def test_it_sends_a_batch_as_one_columnar_request_in_row_order(api, peer):
    v2_model(peer)
    results = predict_batch(api, "deal-v2", ROWS).json()["results"]
    for result, expected in zip(results, peer.expected, strict=True):
        assert list(result["prediction"]["probabilities"].values()) == pytest.approx(expected, abs=1e-9)


def test_its_health_check_asks_readiness_then_scores_an_example_row(peer):
    model = v2_model(peer)
    result = provider_for(model).health_check(model)
    assert result.ok, result.detail
    assert "/v2/models/deal/ready: HTTP 200" in result.detail and "scored one example row" in result.detail


def test_its_health_check_fails_for_a_model_the_server_does_not_have(peer):
    model = v2_model(peer, "ghost-v2", modelName="ghost")
    result = provider_for(model).health_check(model)
    assert not result.ok and "HTTP 404: Model ghost not found" in result.detail


def test_it_logs_mlservers_own_message_when_it_refuses_a_request(api, peer, caplog):
    v2_model(peer, "np-v2", parameters={"content_type": "np"})
    response = predict(api, "np-v2", ROWS[0])
    assert response.status_code == 502
    # For the operator's log; an upstream body never reaches the API caller (issue 16).
    assert "only supports a single input tensor" not in response.content.decode()
    assert "only supports a single input tensor" in caplog.text


def test_it_imports_the_feature_schema_from_the_models_metadata(staff_api, peer):
    register("bare-v2", "custom", endpoint=peer.url, type="classification", schema={},
             config={"protocol": "v2", "modelName": "deal", "timeout": 10})
    response = staff_api.post("/api/v1/models/bare-v2/import-schema/")
    assert response.status_code == 200, response.content
    assert response.json()["featureSchema"] == {"features": [
        {"name": "amount", "type": "number"}, {"name": "segment", "type": "string"}]}
    assert predict(staff_api, "bare-v2", ROWS[1]).status_code == 200


def test_it_refuses_to_import_a_schema_for_a_model_that_is_not_v2(staff_api):
    response = staff_api.post("/api/v1/models/lead-scoring-v1/import-schema/")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "schema_import_not_supported"


def test_it_explains_an_mlserver_model_like_any_remote_model(api, peer):
    v2_model(peer, explanationOutput="probabilities.yes",
             explanationBackground=[{"amount": 100, "segment": "smb"}, {"amount": 600, "segment": "enterprise"}])
    response = api.post("/api/v1/explanations/", {"modelId": "deal-v2", "features": ROWS[2]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    p_yes = dict(zip(peer.classes, peer.expected[2], strict=True))["yes"]
    assert body["outputValue"] == pytest.approx(p_yes, abs=1e-9)
    assert body["baseValue"] + sum(c["shapValue"] for c in body["featureContributions"]) == pytest.approx(p_yes)
