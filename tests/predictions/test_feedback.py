"""Outcomes: POST /predictions/{id}/feedback/ validated against the model type, idempotent,
feeding live accuracy (classifiers) and MAE (numbers)."""

from __future__ import annotations

import uuid

import pytest

from predictions.models import PredictionLog
from predictions.selectors import live_accuracy
from registry import services
from registry.models import AbMode, MLModel
from tests.predictions.test_apis import CHURN, FORECAST, LEAD, RECOMMEND, predict

pytestmark = pytest.mark.django_db


def feedback(api, prediction_id, actual):
    return api.post(f"/api/v1/predictions/{prediction_id}/feedback/", {"actual": actual}, format="json")


def predicted(api, model_id, features, **extra):
    body = predict(api, model_id, features, **extra).json()
    return body["metadata"]["predictionId"], body


def test_it_records_an_outcome_and_counts_it_toward_live_accuracy(api):
    pid, body = predicted(api, "lead-scoring-v1", LEAD)
    response = feedback(api, pid, body["prediction"]["class"])
    assert response.status_code == 201, response.content
    assert response.json()["correct"] is True and response.json()["modelId"] == "lead-scoring-v1"
    other_pid, other = predicted(api, "lead-scoring-v1", LEAD, useCache=False)
    wrong = next(c for c in ("hot", "warm", "cold") if c != other["prediction"]["class"])
    assert feedback(api, other_pid, wrong).json()["correct"] is False
    assert live_accuracy("lead-scoring-v1") == {"outcomes": 2, "correct": 1, "accuracy": 50.0, "mae": None}


def test_it_accepts_the_same_outcome_again_without_change(api):
    pid, body = predicted(api, "churn-prediction-v1", CHURN)
    first = feedback(api, pid, body["prediction"]["risk"])
    again = feedback(api, pid, body["prediction"]["risk"].upper())
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["recordedAt"] == first.json()["recordedAt"]


def test_it_refuses_a_different_outcome_for_the_same_prediction(api):
    pid, _ = predicted(api, "churn-prediction-v1", CHURN)
    feedback(api, pid, "low")
    response = feedback(api, pid, "high")
    assert response.status_code == 409 and response.json()["error"]["code"] == "outcome_conflict"
    assert PredictionLog.objects.get(pk=pid).actual == "low"


@pytest.mark.parametrize("actual", ["lukewarm", 3, True, "", None, ["hot"], {"class": "hot"}])
def test_it_refuses_an_outcome_that_is_not_one_of_the_classifiers_labels(api, actual):
    pid, _ = predicted(api, "lead-scoring-v1", LEAD)
    response = feedback(api, pid, actual)
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]) >= {"code", "message"}
    assert PredictionLog.objects.get(pk=pid).actual is None


@pytest.mark.parametrize("actual", ["high", "1e3", True, None, [1]])
def test_it_refuses_an_outcome_that_is_not_a_number_for_a_forecast(api, actual):
    pid, _ = predicted(api, "revenue-forecast-v1", FORECAST)
    response = feedback(api, pid, actual)
    assert response.status_code == 400
    assert PredictionLog.objects.get(pk=pid).actual is None


def test_it_measures_mae_for_a_forecast(api):
    pid, body = predicted(api, "revenue-forecast-v1", FORECAST)
    first_period = body["prediction"]["forecast"][0]["value"]
    response = feedback(api, pid, first_period + 1000)
    assert response.status_code == 201 and response.json()["absoluteError"] == pytest.approx(1000)
    assert live_accuracy("revenue-forecast-v1")["mae"] == pytest.approx(1000)


def test_it_says_outcomes_are_not_supported_for_recommendations(api):
    pid, _ = predicted(api, "product-recommendation-v1", RECOMMEND)
    response = feedback(api, pid, "crm-core")
    assert response.status_code == 422 and response.json()["error"]["code"] == "outcome_not_supported"


def test_it_answers_404_for_an_unknown_or_malformed_prediction_id(api):
    assert feedback(api, uuid.uuid4(), "hot").status_code == 404
    response = feedback(api, "not-a-uuid", "hot")
    assert response.status_code == 404 and "error" in response.json()


def test_it_needs_a_token(client):
    assert client.post(f"/api/v1/predictions/{uuid.uuid4()}/feedback/", {"actual": "hot"},
                       content_type="application/json").status_code == 401


def test_it_gives_the_shadow_twin_the_same_outcome(api):
    challenger = MLModel.objects.get(pk="lead-scoring-v2")
    services.model_update(model=challenger, data={"ab_mode": AbMode.SHADOW, "ab_traffic_percentage": 100})
    pid, _ = predicted(api, "lead-scoring-v2", LEAD)
    assert feedback(api, pid, "hot").status_code == 201
    assert list(PredictionLog.objects.filter(shadow=True).values_list("actual", flat=True)) == ["hot"]
    # A shadow prediction was never returned, so it takes no outcome of its own.
    twin = PredictionLog.objects.get(shadow=True)
    assert feedback(api, twin.pk, "hot").status_code == 404
