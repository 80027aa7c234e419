from __future__ import annotations

import logging

import pytest

from registry.models import MLModel

pytestmark = pytest.mark.django_db

NEW_MODEL = {
    "id": "deal-size-v1", "name": "Deal size", "version": "1.0.0", "type": "regression",
    "provider": "custom", "description": "External deal size model",
    "providerConfig": {"endpoint": "http://127.0.0.1:9/v1/models/deal:predict",
                       "credentials": {"apiKey": "sk-very-secret-123"}, "config": {"timeout": 2}},
    "featureSchema": {"features": [{"name": "amount", "type": "number", "min": 0}]},
    "cacheTtl": 60,
}


def test_it_lists_the_built_in_models_with_measured_metrics(api):
    response = api.get("/api/v1/models/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    by_id = {m["id"]: m for m in body["results"]}
    assert {"lead-scoring-v1", "lead-scoring-v2", "churn-prediction-v1", "sentiment-analysis-v1",
            "revenue-forecast-v1", "product-recommendation-v1"} <= set(by_id)
    assert 0.5 < by_id["lead-scoring-v1"]["metrics"]["rocAuc"] <= 1
    assert by_id["revenue-forecast-v1"]["metrics"]["mape"] > 0
    assert by_id["lead-scoring-v2"]["abTest"] == {
        "enabled": True, "trafficPercentage": 20.0, "championModelId": "lead-scoring-v1", "mode": "split"}


def test_it_registers_a_model_without_ever_returning_its_credentials(staff_api, caplog):
    caplog.set_level(logging.DEBUG)
    response = staff_api.post("/api/v1/models/", NEW_MODEL, format="json")
    assert response.status_code == 201, response.content
    assert "sk-very-secret-123" not in response.content.decode()
    assert response.json()["providerConfig"]["credentialsSet"] == ["apiKey"]
    stored = MLModel.objects.get(pk="deal-size-v1")
    assert "sk-very-secret-123" not in stored.credentials_encrypted
    assert "sk-very-secret-123" not in staff_api.get("/api/v1/models/deal-size-v1/").content.decode()
    assert "sk-very-secret-123" not in caplog.text


def test_it_lets_only_staff_change_the_registry(api):
    assert api.post("/api/v1/models/", NEW_MODEL, format="json").status_code == 403
    assert api.patch("/api/v1/models/lead-scoring-v1/", {"cacheTtl": 5}, format="json").status_code == 403
    assert api.delete("/api/v1/models/lead-scoring-v1/").status_code == 403
    assert MLModel.objects.get(pk="lead-scoring-v1").cache_ttl == 300


def test_it_edits_a_model_and_bumps_its_revision_when_answers_may_change(staff_api):
    before = MLModel.objects.get(pk="churn-prediction-v1").revision
    response = staff_api.patch("/api/v1/models/churn-prediction-v1/", {"version": "1.0.1"}, format="json")
    assert response.status_code == 200
    assert MLModel.objects.get(pk="churn-prediction-v1").revision == before + 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "Not A Slug!"}, "id"),
        ({"status": "sleeping"}, "status"),
        ({"provider": "carrier-pigeon"}, "provider"),
        ({"abTest": {"enabled": True, "trafficPercentage": 120, "championModelId": "lead-scoring-v1"}},
         "trafficPercentage"),
        ({"abTest": {"enabled": True, "trafficPercentage": 20, "championModelId": "deal-size-v1"}},
         "champion"),
        ({"abTest": {"enabled": True, "trafficPercentage": 20, "championModelId": "nope"}}, "nope"),
        ({"featureSchema": {"features": [{"name": "x", "type": "colour"}]}}, "type"),
        ({"providerConfig": {"credentials": {"password": "x"}}}, "password"),
    ],
)
def test_it_refuses_invalid_registrations(staff_api, change, field):
    response = staff_api.post("/api/v1/models/", {**NEW_MODEL, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["message"]
    assert not MLModel.objects.filter(name="Deal size").exists()


def test_it_refuses_a_duplicate_id(staff_api):
    response = staff_api.post("/api/v1/models/", {**NEW_MODEL, "id": "lead-scoring-v1"}, format="json")
    assert response.status_code == 409
    assert MLModel.objects.get(pk="lead-scoring-v1").name != "Deal size"


def test_it_keeps_a_champion_while_a_challenger_needs_it(staff_api):
    response = staff_api.delete("/api/v1/models/lead-scoring-v1/")
    assert response.status_code == 409
    assert MLModel.objects.filter(pk="lead-scoring-v1").exists()


def test_it_deletes_a_model(staff_api):
    staff_api.post("/api/v1/models/", NEW_MODEL, format="json")
    assert staff_api.delete("/api/v1/models/deal-size-v1/").status_code == 204
    assert staff_api.get("/api/v1/models/deal-size-v1/").status_code == 404
