"""Explanations of the text, forecast and recommendation models, and of a model that ignores
a feature."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from ml.builtin import synthetic
from predictions.providers import provider_for
from registry.models import MLModel
from registry.selectors import model_get
from registry.services import model_train_from_csv, registry_changed

pytestmark = pytest.mark.django_db
URL = "/api/v1/explanations/"


def explain(api, model_id, features):
    response = api.post(URL, {"modelId": model_id, "features": features}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def additive(body, tolerance=1e-9):
    total = body["baseValue"] + sum(c["shapValue"] for c in body["featureContributions"])
    return total == pytest.approx(body["outputValue"], abs=tolerance)


# --- a feature the model ignores ----------------------------------------------------------


def test_a_feature_the_model_ignores_gets_exactly_zero(api, tmp_path):
    # Retrained on accounts that never paid late, the model cannot use payment delays.
    data = synthetic.churn(n=1_000, seed=5)
    path = tmp_path / "accounts.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*data.rows[0], "churned"])
        writer.writeheader()
        for row, label in zip(data.rows, data.labels, strict=True):
            writer.writerow({**row, "payment_delays": 0, "churned": int(label)})
    model = model_train_from_csv(base_model_id="churn-prediction-v1", path=str(path))
    MLModel.objects.filter(pk=model.pk).update(status="active")
    registry_changed()
    row = {"account_age": 12, "support_tickets": 4, "usage_frequency": 9, "nps_score": 10, "payment_delays": 7}
    body = explain(api, model.pk, row)
    values = {c["feature"]: c["shapValue"] for c in body["featureContributions"]}
    assert values["payment_delays"] == 0.0
    assert all(values[name] != 0.0 for name in values if name != "payment_delays")
    assert additive(body)


# --- text ---------------------------------------------------------------------------------


def shap_words(text):
    """shap's exact explainer over the words: a masked word is left out of the text."""
    import shap

    predictor = provider_for(model_get("sentiment-analysis-v1")).predictor(model_get("sentiment-analysis-v1"))
    words = text.split()

    def model(masks):
        return np.array([
            predictor.scores(" ".join(w for w, keep in zip(words, mask, strict=True) if keep))["compound"]
            for mask in masks
        ])

    masker = shap.maskers.Independent(np.zeros((1, len(words))), max_samples=1)
    result = shap.explainers.Exact(model, masker)(np.ones((1, len(words))))
    return float(result.base_values[0]), result.values[0]


def test_it_gives_each_word_its_shapley_value(api):
    text = "I love this product but support was not helpful"
    body = explain(api, "sentiment-analysis-v1", {"text": text})
    base, values = shap_words(text)
    by_position = sorted(body["featureContributions"], key=lambda c: c["position"])
    assert [c["feature"] for c in by_position] == text.split()
    assert [c["shapValue"] for c in by_position] == pytest.approx(values.tolist(), abs=1e-6)
    assert body["baseValue"] == pytest.approx(base, abs=1e-9)
    assert additive(body)
    word = {c["feature"]: c["shapValue"] for c in by_position}
    assert word["love"] > 0
    assert body["method"]["name"] == "exact"
    assert body["prediction"]["sentiment"] in {"positive", "neutral", "negative"}
    assert '• "love" (impact: +' in body["explanation"]
    assert "Positive factors:" in body["explanation"]


def test_it_samples_long_texts_and_states_the_error(api):
    text = ("The onboarding was great and the team answered quickly, but the invoices were wrong "
            "twice and nobody called back, which is frustrating")
    body = explain(api, "sentiment-analysis-v1", {"text": text})
    assert len(body["featureContributions"]) == len(text.split()) > 12
    assert body["method"]["name"] == "permutation"
    assert body["method"]["maxStandardError"] > 0
    assert all(c["standardError"] >= 0 for c in body["featureContributions"])
    assert additive(body)  # every sampled permutation adds up exactly
    word = {c["feature"]: c["shapValue"] for c in body["featureContributions"]}
    assert word["great"] > 0 and word["frustrating"] < 0


# --- forecast and recommendation ----------------------------------------------------------


def test_it_splits_a_forecast_into_trend_seasonality_and_pipeline(api):
    features = {"historical_revenue": [100, 120, 90, 140, 110, 132, 99, 154], "pipeline_value": 300,
                "seasonality": 1, "growth_rate": 0.1}
    body = explain(api, "revenue-forecast-v1", features)
    assert [c["feature"] for c in body["featureContributions"]] != []
    assert {c["feature"] for c in body["featureContributions"]} == {"trend", "seasonality", "pipeline"}
    forecast = body["prediction"]["forecast"]
    assert body["outputValue"] == pytest.approx(sum(p["value"] for p in forecast), abs=0.05)
    assert body["baseValue"] == pytest.approx(4 * 154, rel=1e-9)
    assert additive(body, 1e-6)
    for period, answered in zip(body["periods"], forecast, strict=True):
        assert period["value"] == pytest.approx(answered["value"], abs=0.01)
        assert period["baseValue"] + sum(period["components"].values()) == pytest.approx(period["value"], rel=1e-9)


def test_it_names_the_owned_products_that_led_to_a_recommendation(api):
    features = {"current_products": ["crm-core", "sales-cloud", "no-such-product"], "industry": "Finance",
                "company_size": 40}
    body = explain(api, "product-recommendation-v1", features)
    assert {c["feature"] for c in body["featureContributions"]} == {"crm-core", "sales-cloud"}
    top = body["prediction"]["items"][0]
    assert body["outputValue"] == pytest.approx(top["score"], abs=1e-4)
    assert additive(body)
    for item, answered in zip(body["items"], body["prediction"]["items"], strict=True):
        assert item["id"] == answered["id"]
        assert item["baseValue"] + sum(c["shapValue"] for c in item["becauseOf"]) == pytest.approx(item["score"], abs=1e-9)
