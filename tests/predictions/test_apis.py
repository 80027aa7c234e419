from __future__ import annotations

import pytest

from monitoring.models import Metric
from predictions.models import PredictionLog
from registry.models import MLModel

pytestmark = pytest.mark.django_db

LEAD = {
    "company_size": 250, "industry": "Technology", "engagement_score": 85,
    "job_title": "VP of Sales", "budget": 120000,
}
CHURN = {"account_age": 24, "support_tickets": 3, "usage_frequency": 20, "nps_score": 30, "payment_delays": 0}
FORECAST = {"historical_revenue": [100000, 110000, 120000, 125000, 130000], "pipeline_value": 200000,
            "seasonality": 2, "growth_rate": 0.05}
RECOMMEND = {"current_products": ["crm-core", "unknown-product"], "industry": "Finance", "company_size": 500}

BUILT_IN_INPUTS = {
    "lead-scoring-v1": LEAD,
    "churn-prediction-v1": CHURN,
    "sentiment-analysis-v1": {"text": "I love this product"},
    "revenue-forecast-v1": FORECAST,
    "product-recommendation-v1": RECOMMEND,
}


def predict(api, model_id, features, **extra):
    return api.post("/api/v1/predictions/", {"modelId": model_id, "features": features, **extra}, format="json")


def test_it_answers_with_the_spec_shape_for_every_built_in_model(api):
    for model_id, features in BUILT_IN_INPUTS.items():
        response = predict(api, model_id, features)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"prediction", "confidence", "modelId", "modelVersion", "processingTime",
                             "cached", "metadata"}
        assert body["modelId"] == model_id
        assert 0 <= body["confidence"] <= 100
        assert set(body["metadata"]) == {"predictionId", "requestedModelId", "abTestArm", "provider",
                                         "confidenceSource"}
        assert body["metadata"]["provider"] == "local"
        assert body["metadata"]["confidenceSource"] == "model"


def test_it_gives_each_model_its_own_prediction_shape(api):
    lead = predict(api, "lead-scoring-v1", LEAD).json()["prediction"]
    assert 0 <= lead["score"] <= 100 and lead["class"] in {"hot", "warm", "cold"}
    churn = predict(api, "churn-prediction-v1", CHURN).json()["prediction"]
    assert churn["risk"] in {"low", "medium", "high"} and 0 <= churn["probability"] <= 1
    sentiment = predict(api, "sentiment-analysis-v1", {"text": "I love this product"}).json()["prediction"]
    assert sentiment["sentiment"] == "positive"
    forecast = predict(api, "revenue-forecast-v1", FORECAST).json()["prediction"]["forecast"]
    assert forecast and all(p["lower"] <= p["value"] <= p["upper"] for p in forecast)
    items = predict(api, "product-recommendation-v1", RECOMMEND).json()["prediction"]["items"]
    assert items and "crm-core" not in {i["id"] for i in items}


def test_it_logs_and_measures_every_prediction(api):
    body = predict(api, "churn-prediction-v1", CHURN, context={"objectType": "account", "objectId": "A-1"}).json()
    log = PredictionLog.objects.get(pk=body["metadata"]["predictionId"])
    assert log.object_type == "account" and log.object_id == "A-1"
    assert log.label == body["prediction"]["risk"]
    metric = Metric.objects.get(model_id="churn-prediction-v1")
    assert metric.success and not metric.cached and metric.provider == "local"
    assert metric.confidence == pytest.approx(body["confidence"])


def test_it_gives_the_same_answer_for_the_same_input(api):
    first = predict(api, "lead-scoring-v1", LEAD, useCache=False).json()
    second = predict(api, "lead-scoring-v1", LEAD, useCache=False).json()
    assert first["prediction"] == second["prediction"]
    assert first["metadata"]["predictionId"] != second["metadata"]["predictionId"]


def test_it_serves_a_repeat_from_the_cache(api):
    first = predict(api, "lead-scoring-v1", LEAD).json()
    second = predict(api, "lead-scoring-v1", dict(reversed(LEAD.items()))).json()
    assert not first["cached"] and second["cached"]
    assert first["prediction"] == second["prediction"]
    assert second["metadata"]["confidenceSource"] == "model"


def test_it_answers_a_batch_in_input_order_equal_to_single_predictions(api):
    rows = [dict(LEAD, engagement_score=e, job_title=t) for e, t in
            [(5, "Sales Intern"), (95, "Chief Executive Officer"), (50, "Marketing Manager")]]
    response = api.post("/api/v1/predictions/batch/", {"modelId": "lead-scoring-v1", "features": rows,
                                                       "useCache": False}, format="json")
    assert response.status_code == 200, response.content
    batch = [r["prediction"] for r in response.json()["results"]]
    single = [predict(api, "lead-scoring-v1", r, useCache=False).json()["prediction"] for r in rows]
    assert batch == single
    assert PredictionLog.objects.filter(model_id="lead-scoring-v1").count() == 6


@pytest.mark.parametrize(
    ("features", "code", "feature"),
    [
        (dict(LEAD, colour="red"), "unknown_feature", "colour"),
        ({k: v for k, v in LEAD.items() if k != "budget"}, "missing_feature", "budget"),
        (dict(LEAD, engagement_score="high"), "invalid_type", "engagement_score"),
        (dict(LEAD, engagement_score=101), "out_of_range", "engagement_score"),
        (dict(LEAD, company_size=True), "invalid_type", "company_size"),
        ("not an object", "invalid_features", None),
    ],
)
def test_it_rejects_bad_features_naming_the_feature(api, features, code, feature):
    response = predict(api, "lead-scoring-v1", features)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    if feature:
        assert feature in error["message"]
    assert not PredictionLog.objects.exists()


def test_it_counts_an_unknown_industry_as_other(api):
    odd = predict(api, "lead-scoring-v1", dict(LEAD, industry="Aerospace"), useCache=False).json()
    other = predict(api, "lead-scoring-v1", dict(LEAD, industry="Other"), useCache=False).json()
    assert odd["prediction"] == other["prediction"]


def test_it_answers_404_for_an_unknown_model(api):
    response = predict(api, "no-such-model", LEAD)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_it_answers_409_for_an_inactive_model(api):
    MLModel.objects.filter(pk="churn-prediction-v1").update(status="inactive")
    response = predict(api, "churn-prediction-v1", CHURN)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "model_not_active"


def test_it_refuses_a_batch_over_the_limit(api):
    response = api.post("/api/v1/predictions/batch/",
                        {"modelId": "lead-scoring-v1", "features": [LEAD] * 1001}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_too_large"
    assert not PredictionLog.objects.exists()


def test_it_names_the_bad_row_of_a_batch(api):
    rows = [LEAD, dict(LEAD, budget=-5)]
    response = api.post("/api/v1/predictions/batch/", {"modelId": "lead-scoring-v1", "features": rows}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("features[1]:")


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"modelId": 5}', b'{"features": {}}'])
def test_it_answers_malformed_bodies_with_400(api, body):
    response = api.generic("POST", "/api/v1/predictions/", body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_it_needs_a_token(client):
    response = client.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1", "features": LEAD},
                           content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_it_refuses_a_wrong_token(client):
    response = client.get("/api/v1/models/", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
