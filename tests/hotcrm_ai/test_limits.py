"""Every limit answers a clear 400 and stores nothing."""

from __future__ import annotations

import json

import pytest

from monitoring.models import Metric
from predictions.models import PredictionLog
from registry.models import MLModel

pytestmark = pytest.mark.django_db

LEAD = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
        "job_title": "VP of Sales", "budget": 120000}


def stored() -> tuple:
    models = tuple(MLModel.objects.order_by("pk").values_list("pk", "updated_at", "status"))
    return models, PredictionLog.objects.count(), Metric.objects.count()


def post_raw(api, path: str, body: bytes | str):
    return api.generic("POST", path, body, content_type="application/json")


def assert_refused(response, code: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"]


def nested(depth: int) -> str:
    return '{"modelId": "lead-scoring-v1", "features": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/v1/predictions/", nested(40), "too_deep"),
        ("/api/v1/predictions/", nested(100_000), "too_deep"),
        ("/api/v1/models/", nested(40), "too_deep"),
        ("/api/v1/predictions/", json.dumps({"modelId": "lead-scoring-v1", "features": LEAD}).replace(
            "120000", "NaN"), "number_out_of_range"),
        ("/api/v1/predictions/", json.dumps({"modelId": "lead-scoring-v1", "features": LEAD}).replace(
            "120000", "-Infinity"), "number_out_of_range"),
        ("/api/v1/predictions/", json.dumps({"modelId": "lead-scoring-v1", "features": LEAD}).replace(
            "120000", "1e400"), "number_out_of_range"),
        ("/api/v1/predictions/", json.dumps({"modelId": "lead-scoring-v1", "features": LEAD}).replace(
            "250", "9" * 30), "number_out_of_range"),
        ("/api/v1/predictions/batch/", json.dumps({"modelId": "lead-scoring-v1", "features": [LEAD] * 1001}),
         "batch_too_large"),
        ("/api/v1/predictions/", json.dumps({"modelId": "lead-scoring-v1",
                                             "features": {f"f{i}": 1 for i in range(500)}}), "too_many_features"),
        ("/api/v1/predictions/", json.dumps({"modelId": "lead-scoring-v1",
                                             "features": dict(LEAD, job_title="x" * 20_000)}), "too_long"),
        ("/api/v1/predictions/", json.dumps({"modelId": "sentiment-analysis-v1",
                                             "features": {"text": "bad " * 5000}}), "too_long"),
        ("/api/v1/predictions/", b'{"modelId": "lead-scoring-v1", "features": {"budget": "\xff"}}',
         "malformed_json"),
    ],
)
def test_it_refuses_input_past_a_limit_with_a_clear_400_and_stores_nothing(staff_api, path, body, code):
    before = stored()
    assert_refused(post_raw(staff_api, path, body), code)
    assert stored() == before


def test_it_refuses_a_body_past_the_size_limit_before_reading_it(api, settings):
    settings.HOTCRM = {**settings.HOTCRM, "MAX_BODY_BYTES": 1000}
    before = stored()
    body = json.dumps({"modelId": "sentiment-analysis-v1", "features": {"text": "fine " * 400}})
    assert_refused(post_raw(api, "/api/v1/predictions/", body), "body_too_large")
    assert stored() == before


def test_it_still_answers_input_just_inside_the_limits(api):
    text = "good " * 1999  # just under 10,000 characters
    response = api.post("/api/v1/predictions/", {"modelId": "sentiment-analysis-v1", "features": {"text": text}},
                        format="json")
    assert response.status_code == 200, response.content
    shallow = {"modelId": "product-recommendation-v1", "features": {
        "current_products": ["crm-core"], "industry": "Finance", "company_size": 10,
        "usage_patterns": {"a": {"b": {"c": 1}}}}}
    assert api.post("/api/v1/predictions/", shallow, format="json").status_code == 200


def test_it_bounds_the_unknown_feature_name_it_echoes(api):
    response = api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1",
                                                 "features": dict(LEAD, **{"x" * 5000: 1})}, format="json")
    assert_refused(response, "unknown_feature")
    assert len(response.content) < 1000
