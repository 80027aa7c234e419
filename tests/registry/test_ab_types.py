"""An A/B test compares answers of one type: no API call can leave a challenger and its
champion of different types, running or ended (an ended test keeps its champion on record and
its report). Before, ending a test and then making the challenger a forecasting model made
`GET /models/{id}/ab-test/` a 500 (schemathesis' stateful phase found it)."""

from __future__ import annotations

import pytest

from registry.models import MLModel

pytestmark = pytest.mark.django_db
LEAD = {"company_size": 250, "industry": "Technology", "engagement_score": 85, "job_title": "VP of Sales",
        "budget": 120000}


def with_outcomes(api) -> None:
    for _ in range(12):
        answer = api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1", "features": LEAD,
                                                   "useCache": False}, format="json")
        assert answer.status_code == 200
        prediction_id = answer.json()["metadata"]["predictionId"]
        api.post(f"/api/v1/predictions/{prediction_id}/feedback/", {"actual": "hot"}, format="json")


@pytest.mark.parametrize("new_type", ["forecasting", "regression", "recommendation"])
def test_an_ended_tests_challenger_keeps_the_type_of_its_champion(staff_api, new_type):
    with_outcomes(staff_api)
    ended = staff_api.patch("/api/v1/models/lead-scoring-v2/", {"abTest": {
        "enabled": False, "trafficPercentage": 20, "championModelId": "lead-scoring-v1"}}, format="json")
    assert ended.status_code == 200
    refused = staff_api.patch("/api/v1/models/lead-scoring-v2/", {"type": new_type}, format="json")
    assert refused.status_code == 400, refused.content
    assert "type" in refused.json()["error"]["details"]
    report = staff_api.get("/api/v1/models/lead-scoring-v2/ab-test/")
    assert report.status_code == 200 and report.json()["metric"] == "accuracy"


def test_a_champion_keeps_the_type_of_its_challengers(staff_api):
    refused = staff_api.patch("/api/v1/models/lead-scoring-v1/", {"type": "forecasting"}, format="json")
    assert refused.status_code == 400, refused.content
    assert "lead-scoring-v2" in refused.json()["error"]["details"]["type"][0]
    assert MLModel.objects.get(pk="lead-scoring-v1").type == "classification"


def test_a_pair_stored_before_the_check_gets_a_4xx_report(staff_api):
    with_outcomes(staff_api)
    MLModel.objects.filter(pk="lead-scoring-v2").update(type="forecasting")  # as a row from before
    report = staff_api.get("/api/v1/models/lead-scoring-v2/ab-test/")
    assert report.status_code == 422
    assert report.json()["error"]["code"] == "ab_types_differ"
