from __future__ import annotations

import pytest

from ml.builtin import synthetic
from monitoring.drift import model_drift
from registry.models import MLModel

pytestmark = pytest.mark.django_db


def send_batch(api, model_id, rows):
    response = api.post("/api/v1/predictions/batch/", {"modelId": model_id, "features": rows}, format="json")
    assert response.status_code == 200, response.content


def fresh_churn_rows(n=300, seed=12345):
    return synthetic.churn(n=n, seed=seed).rows


def test_it_finds_no_drift_in_inputs_like_the_training_data(api):
    send_batch(api, "churn-prediction-v1", fresh_churn_rows())
    drift = model_drift(MLModel.objects.get(pk="churn-prediction-v1"))
    assert drift["available"] and drift["sampleSize"] == 300 and drift["referenceSize"] == 1000
    assert drift["drifting"] == []
    assert {f["feature"] for f in drift["features"]} == {
        "account_age", "support_tickets", "usage_frequency", "nps_score", "payment_delays"}
    assert all(f["test"] == "ks" and f["psi"] < 0.2 for f in drift["features"])


def test_it_names_the_feature_that_drifted_and_degrades_the_model(api):
    rows = fresh_churn_rows()
    for row in rows:
        row["nps_score"] = max(-100.0, row["nps_score"] - 60)  # customers got much unhappier
    send_batch(api, "churn-prediction-v1", rows)
    drift = model_drift(MLModel.objects.get(pk="churn-prediction-v1"))
    assert drift["drifting"] == ["nps_score"]
    nps = next(f for f in drift["features"] if f["feature"] == "nps_score")
    assert nps["pValue"] < 1e-6 and nps["psi"] >= 0.2
    assert nps["current"]["mean"] < nps["reference"]["mean"] - 40

    health = api.get("/api/v1/models/churn-prediction-v1/health/").json()
    assert health["status"] == "degraded"
    assert "nps_score" in health["reason"] and health["details"]["driftingFeatures"] == ["nps_score"]


def test_it_tests_categories_with_chi_squared(api):
    rows = synthetic.leads(n=300, seed=999).rows
    send_batch(api, "lead-scoring-v1", rows)
    drift = model_drift(MLModel.objects.get(pk="lead-scoring-v1"))
    industry = next(f for f in drift["features"] if f["feature"] == "industry")
    assert industry["test"] == "chi2" and not industry["drifting"]
    title = next(f for f in drift["features"] if f["feature"] == "job_title")
    assert title["test"] is None and "free text" in title["note"]

    shifted = [row | {"industry": "Healthcare"} for row in rows]
    send_batch(api, "lead-scoring-v1", shifted + shifted)
    assert model_drift(MLModel.objects.get(pk="lead-scoring-v1"))["drifting"] == ["industry"]


def test_it_waits_for_enough_inputs(api):
    send_batch(api, "churn-prediction-v1", fresh_churn_rows(n=10))
    drift = model_drift(MLModel.objects.get(pk="churn-prediction-v1"))
    assert not drift["available"] and "Only 10 recent input" in drift["reason"]


def test_it_says_when_a_model_has_nothing_to_compare_with(api):
    drift = model_drift(MLModel.objects.get(pk="sentiment-analysis-v1"))
    assert not drift["available"] and drift["reason"]
