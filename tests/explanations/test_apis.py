from __future__ import annotations

import numpy as np
import pytest

from monitoring.models import Metric
from predictions.providers import provider_for
from registry.selectors import model_get
from tests.explanations.support import shap_exact
from tests.ml.support import COLD_LEAD, HAPPY_ACCOUNT, HOT_LEAD, clean

pytestmark = pytest.mark.django_db
URL = "/api/v1/explanations/"
COMPARE_URL = "/api/v1/explanations/compare/"
RISKY_ACCOUNT = {"account_age": 4, "support_tickets": 9, "usage_frequency": 2, "nps_score": -40, "payment_delays": 3}
CASES = [
    ("lead-scoring-v1", HOT_LEAD), ("lead-scoring-v1", COLD_LEAD), ("lead-scoring-v2", HOT_LEAD),
    ("lead-scoring-v2", COLD_LEAD), ("churn-prediction-v1", HAPPY_ACCOUNT), ("churn-prediction-v1", RISKY_ACCOUNT),
]


def explain(api, model_id, features, **extra):
    response = api.post(URL, {"modelId": model_id, "features": features, **extra}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def shap_values(body):
    return {c["feature"]: c["shapValue"] for c in body["featureContributions"]}


@pytest.mark.parametrize(("model_id", "features"), CASES)
def test_it_gives_the_values_of_shaps_exact_explainer(api, model_id, features):
    body = explain(api, model_id, features)
    predictor = provider_for(model_get(model_id)).predictor(model_get(model_id))
    x = predictor.encode([clean(model_id, features)])[0]
    base, values = shap_exact(predictor, x, predictor.space().background)

    ours = shap_values(body)
    expected = dict(zip(predictor.space().feature_names, values.tolist(), strict=True))
    assert ours.keys() == expected.keys()
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name
    assert body["baseValue"] == pytest.approx(base, abs=1e-6)
    assert body["method"] == {"name": "exact", "evaluations": 2 ** len(expected)}


@pytest.mark.parametrize(("model_id", "features"), CASES)
def test_it_adds_up_to_the_models_own_output(api, model_id, features):
    body = explain(api, model_id, features)
    predictor = provider_for(model_get(model_id)).predictor(model_get(model_id))
    output = float(predictor.output(predictor.encode([clean(model_id, features)]))[0])
    assert body["outputValue"] == pytest.approx(output, abs=1e-9)
    assert body["baseValue"] + sum(shap_values(body).values()) == pytest.approx(output, abs=1e-6)
    # the challenger arm: the requested model itself answers, as it is what is explained
    prediction = api.post("/api/v1/predictions/", {"modelId": model_id, "features": features, "abArm": "challenger"},
                          format="json").json()
    assert body["prediction"] == prediction["prediction"]
    assert body["confidence"] == prediction["confidence"]


def test_it_says_which_number_it_explains(api):
    assert explain(api, "lead-scoring-v1", HOT_LEAD)["outputName"].startswith("lead score (probability of conversion")
    assert explain(api, "churn-prediction-v1", HAPPY_ACCOUNT)["outputName"] == "churn probability"


def test_it_explains_a_category_as_the_one_field_it_is(api):
    body = explain(api, "lead-scoring-v1", {**HOT_LEAD, "industry": "Aerospace"})
    features = [c["feature"] for c in body["featureContributions"]]
    assert sorted(features) == sorted(["company_size", "industry", "engagement_score", "job_title", "budget"])
    industry = next(c for c in body["featureContributions"] if c["feature"] == "industry")
    assert industry["value"] == "Other"


def test_it_scales_contributions_and_importance_from_the_shapley_values(api):
    body = explain(api, "lead-scoring-v1", HOT_LEAD)
    contributions = body["featureContributions"]
    total = sum(abs(c["shapValue"]) for c in contributions)
    for c in contributions:
        assert -1 <= c["contribution"] <= 1
        assert c["contribution"] == pytest.approx(c["shapValue"] / total, abs=1e-6)
        assert c["importance"] == pytest.approx(100 * abs(c["shapValue"]) / total, abs=0.01)
    assert sum(c["importance"] for c in contributions) == pytest.approx(100, abs=0.05)
    assert [c["feature"] for c in body["topFeatures"]] == [c["feature"] for c in contributions[:5]]
    assert [abs(c["shapValue"]) for c in contributions] == sorted((abs(c["shapValue"]) for c in contributions), reverse=True)


def test_it_writes_the_explanation_with_labels_and_signed_impacts(api):
    body = explain(api, "lead-scoring-v1", HOT_LEAD)
    text = body["explanation"]
    assert text.startswith("The prediction was influenced by:")
    engagement = next(c for c in body["featureContributions"] if c["feature"] == "engagement_score")
    assert engagement["shapValue"] > 0  # 92 of 100 raises the score
    assert f"• Engagement Score: 92 (impact: +{engagement['contribution'] * 100:.0f}%)" in text
    assert "Positive factors:" in text


def test_it_compares_two_rows_exactly(api):
    first = {**COLD_LEAD, "engagement_score": 45}
    second = {**first, "engagement_score": 85, "budget": 100_000}
    for model_id in ("lead-scoring-v1", "lead-scoring-v2"):
        response = api.post(COMPARE_URL, {"modelId": model_id, "features1": first, "features2": second}, format="json")
        assert response.status_code == 200, response.json()
        body = response.json()
        predictor = provider_for(model_get(model_id)).predictor(model_get(model_id))
        outputs = predictor.output(predictor.encode([clean(model_id, first), clean(model_id, second)]))
        assert [d["feature"] for d in body["differences"]] in (["engagement_score", "budget"], ["budget", "engagement_score"])
        assert body["outputValue1"] == pytest.approx(outputs[0], abs=1e-9)
        assert body["outputValue2"] == pytest.approx(outputs[1], abs=1e-9)
        assert sum(d["impact"] for d in body["differences"]) == pytest.approx(outputs[1] - outputs[0], abs=1e-9)
        top = body["differences"][0]
        assert abs(top["impact"]) >= abs(body["differences"][1]["impact"])
        assert "Engagement Score changed from 45 to 85, which raised the score by" in body["explanation"]


def test_it_compares_churn_in_percentage_points(api):
    second = {**HAPPY_ACCOUNT, "support_tickets": 12}
    body = api.post(COMPARE_URL, {"modelId": "churn-prediction-v1", "features1": HAPPY_ACCOUNT, "features2": second}, format="json").json()
    (difference,) = body["differences"]
    assert difference["impact"] == pytest.approx(body["outputValue2"] - body["outputValue1"], abs=1e-12)
    assert "Support Tickets changed from 0 to 12, which raised the churn probability by" in body["explanation"]
    assert "percentage points" in body["explanation"]


def test_it_caches_explanations_and_records_them_in_monitoring(api):
    first = explain(api, "churn-prediction-v1", HAPPY_ACCOUNT)
    second = explain(api, "churn-prediction-v1", HAPPY_ACCOUNT)
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["featureContributions"] == first["featureContributions"]
    kinds = list(Metric.objects.filter(model_id="churn-prediction-v1").order_by("id").values_list("kind", "cached"))
    assert kinds == [("explanation", False), ("explanation", True)]
    uncached = explain(api, "churn-prediction-v1", HAPPY_ACCOUNT, useCache=False)
    assert uncached["cached"] is False


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"modelId": "lead-scoring-v1", "features": {**HOT_LEAD, "engagement_score": 101}}, 400, "out_of_range"),
        ({"modelId": "lead-scoring-v1", "features": {**HOT_LEAD, "color": "red"}}, 400, "unknown_feature"),
        ({"modelId": "lead-scoring-v1", "features": [1, 2]}, 400, "invalid_features"),
        ({"modelId": "lead-scoring-v1"}, 400, "invalid_input"),
        ({"modelId": "no-such-model", "features": HOT_LEAD}, 404, "model_not_found"),
    ],
)
def test_it_rejects_bad_requests_with_a_clear_error(api, body, status, code):
    response = api.post(URL, body, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not Metric.objects.exists()


def test_it_rejects_a_bad_comparison(api):
    response = api.post(COMPARE_URL, {"modelId": "lead-scoring-v1", "features1": HOT_LEAD,
                                      "features2": {**HOT_LEAD, "budget": -1}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "out_of_range"
    response = api.post(COMPARE_URL, {"modelId": "sentiment-analysis-v1", "features1": {"text": "good"},
                                      "features2": {"text": "bad"}}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "compare_not_supported"


def test_it_needs_a_token(client):
    assert client.post(URL, {"modelId": "lead-scoring-v1", "features": HOT_LEAD}, content_type="application/json").status_code == 401


def test_the_sum_of_a_batch_of_explanations_stays_additive_for_many_rows(api):
    rng = np.random.default_rng(3)
    for _ in range(5):
        row = {
            "account_age": int(rng.integers(0, 120)), "support_tickets": int(rng.integers(0, 30)),
            "usage_frequency": float(rng.uniform(0, 60)), "nps_score": float(rng.uniform(-100, 100)),
            "payment_delays": int(rng.integers(0, 6)),
        }
        body = explain(api, "churn-prediction-v1", row)
        assert body["baseValue"] + sum(shap_values(body).values()) == pytest.approx(body["outputValue"], abs=1e-9)
