"""Explanations follow the A/B arm: with an object (or a forced arm) on a running test, the
model explained is the one that answers that object, and `modelId` says which."""

from __future__ import annotations

import pytest

from monitoring.models import Metric
from registry import services
from registry.models import AbMode, MLModel
from tests.ml.support import COLD_LEAD, HOT_LEAD

pytestmark = pytest.mark.django_db
URL = "/api/v1/explanations/"
COMPARE_URL = "/api/v1/explanations/compare/"
CHALLENGER, CHAMPION = "lead-scoring-v2", "lead-scoring-v1"


def ab_settings(**data) -> MLModel:
    return services.model_update(model=MLModel.objects.get(pk=CHALLENGER), data=data)


def explain(api, **body):
    response = api.post(URL, {"modelId": CHALLENGER, "features": HOT_LEAD, "useCache": False, **body}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def values(body):
    return {c["feature"]: c["shapValue"] for c in body["featureContributions"]}


def answering_models(api, n=40):
    """Which model answers each object, as predictions route it."""
    out = {}
    for i in range(n):
        prediction = api.post("/api/v1/predictions/", {"modelId": CHALLENGER, "features": HOT_LEAD,
                                                       "context": {"objectId": f"L-{i}"}}, format="json").json()
        out[f"L-{i}"] = prediction["modelId"]
    return out


def test_it_explains_the_model_that_answered_the_object(api):
    ab_settings(ab_traffic_percentage=50)
    routed = answering_models(api)
    assert set(routed.values()) == {CHALLENGER, CHAMPION}
    own = {model_id: values(explain(api, modelId=model_id)) for model_id in (CHALLENGER, CHAMPION)}
    assert own[CHALLENGER] != own[CHAMPION]  # two different models: the test can tell them apart
    for object_id, model_id in routed.items():
        body = explain(api, context={"objectId": object_id, "objectType": "lead"})
        assert body["modelId"] == model_id, object_id
        assert body["modelVersion"] == MLModel.objects.get(pk=model_id).version
        assert values(body) == pytest.approx(own[model_id], abs=1e-12)
    # Measured as explanations of the model explained.
    explained = set(Metric.objects.filter(kind="explanation").values_list("model_id", flat=True))
    assert explained == {CHALLENGER, CHAMPION}


def test_it_routes_a_user_like_predictions_do(api):
    ab_settings(ab_traffic_percentage=50)
    for i in range(10):
        prediction = api.post("/api/v1/predictions/", {"modelId": CHALLENGER, "features": HOT_LEAD,
                                                       "context": {"userId": f"u-{i}"}}, format="json").json()
        assert explain(api, context={"userId": f"u-{i}"})["modelId"] == prediction["modelId"]


def test_it_compares_with_the_model_that_answered_the_object(api):
    ab_settings(ab_traffic_percentage=50)
    routed = answering_models(api, 20)
    first, second = COLD_LEAD, {**COLD_LEAD, "engagement_score": 85}
    own = {}
    for model_id in (CHALLENGER, CHAMPION):
        own[model_id] = api.post(COMPARE_URL, {"modelId": model_id, "features1": first, "features2": second},
                                 format="json").json()
    for object_id, model_id in list(routed.items())[:8]:
        body = api.post(COMPARE_URL, {"modelId": CHALLENGER, "features1": first, "features2": second,
                                      "context": {"objectId": object_id}}, format="json").json()
        assert body["modelId"] == model_id
        assert (body["outputValue1"], body["outputValue2"]) == (own[model_id]["outputValue1"],
                                                                own[model_id]["outputValue2"])


def test_it_lets_a_caller_force_the_arm(api):
    ab_settings(ab_traffic_percentage=0)
    assert explain(api, abArm="challenger", context={"objectId": "L-1"})["modelId"] == CHALLENGER
    ab_settings(ab_traffic_percentage=100)
    assert explain(api, abArm="champion", context={"objectId": "L-1"})["modelId"] == CHAMPION
    assert explain(api, abArm="champion")["modelId"] == CHAMPION


def test_it_explains_the_requested_model_without_an_object(api):
    ab_settings(ab_traffic_percentage=0)  # every object would go to the champion
    assert explain(api)["modelId"] == CHALLENGER
    assert explain(api, context={"objectType": "lead"})["modelId"] == CHALLENGER


def test_it_explains_the_champion_for_every_object_of_a_shadow_test(api):
    ab_settings(ab_traffic_percentage=100, ab_mode=AbMode.SHADOW)
    assert {explain(api, context={"objectId": f"L-{i}"})["modelId"] for i in range(5)} == {CHAMPION}


@pytest.mark.parametrize(("body", "code"), [
    ({"modelId": CHALLENGER, "abArm": "both"}, "invalid_input"),
    ({"modelId": CHALLENGER, "context": {"objectId": ["L-1"]}}, "invalid_input"),
    ({"modelId": "churn-prediction-v1", "abArm": "champion"}, "invalid_arm"),
])
def test_it_refuses_a_bad_arm_or_context_and_records_nothing(api, body, code):
    features = HOT_LEAD if body["modelId"] == CHALLENGER else {
        "account_age": 1, "support_tickets": 0, "usage_frequency": 1, "nps_score": 0, "payment_delays": 0}
    for url, payload in ((URL, {"features": features}), (COMPARE_URL, {"features1": features, "features2": features})):
        response = api.post(url, {**body, **payload}, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == code
    assert not Metric.objects.exists()
