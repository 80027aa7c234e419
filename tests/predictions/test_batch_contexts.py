"""`contexts` in POST /predictions/batch/: each row routed (sticky A/B arm per object) and
logged with its own context, as a single prediction with that context would be."""

from __future__ import annotations

import json

import pytest

from predictions.ids import shadow_id
from predictions.models import PredictionLog
from registry import services
from registry.models import AbMode, MLModel
from tests.predictions.test_apis import LEAD, predict

pytestmark = pytest.mark.django_db


def batch(api, rows, **extra):
    return api.post("/api/v1/predictions/batch/", {"modelId": extra.pop("modelId", "lead-scoring-v1"),
                                                    "features": rows, **extra}, format="json")


def leads(n):
    return [{**LEAD, "engagement_score": i % 101, "company_size": 10 + i} for i in range(n)]


def ab_settings(**data) -> MLModel:
    return services.model_update(model=MLModel.objects.get(pk="lead-scoring-v2"), data=data)


def test_it_logs_each_row_with_its_own_context(api):
    contexts = [{"objectId": "L-1", "objectType": "lead", "userId": "u-7"}, {}, {"objectId": "A-9", "objectType": "account"}]
    response = batch(api, leads(3), contexts=contexts)
    assert response.status_code == 200, response.content
    ids = [r["metadata"]["predictionId"] for r in response.json()["results"]]
    logged = [PredictionLog.objects.values_list("user_id", "object_type", "object_id").get(pk=pid) for pid in ids]
    assert logged == [("u-7", "lead", "L-1"), ("", "", ""), ("", "account", "A-9")]


def test_it_logs_no_context_without_contexts(api):
    response = batch(api, leads(2))
    assert response.status_code == 200
    assert set(PredictionLog.objects.values_list("user_id", "object_type", "object_id")) == {("", "", "")}


def test_it_routes_each_row_to_the_arm_a_single_prediction_for_that_object_meets(api):
    ab_settings(ab_traffic_percentage=50)
    objects = [f"L-{n}" for n in range(60)]
    response = batch(api, leads(60), modelId="lead-scoring-v2", useCache=False,
                     contexts=[{"objectId": o, "objectType": "lead"} for o in objects])
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    arms = [r["metadata"]["abTestArm"] for r in results]
    assert set(arms) == {"challenger", "champion"}
    for obj, result in zip(objects, results, strict=True):
        single = predict(api, "lead-scoring-v2", LEAD, context={"objectId": obj}, useCache=False).json()
        assert (result["modelId"], result["metadata"]["abTestArm"]) == (single["modelId"], single["metadata"]["abTestArm"])
        log = PredictionLog.objects.get(pk=result["metadata"]["predictionId"])
        assert (log.model_id, log.ab_arm, log.object_id) == (result["modelId"], result["metadata"]["abTestArm"], obj)


def test_it_gives_a_shadow_twin_its_rows_context(api):
    ab_settings(ab_mode=AbMode.SHADOW, ab_traffic_percentage=100)
    response = batch(api, leads(2), modelId="lead-scoring-v2", contexts=[{"objectId": "L-1"}, {"objectId": "L-2"}])
    assert response.status_code == 200, response.content
    for result, obj in zip(response.json()["results"], ("L-1", "L-2"), strict=True):
        twin = PredictionLog.objects.get(pk=shadow_id(result["metadata"]["predictionId"]))
        assert (twin.shadow, twin.object_id, twin.model_id) == (True, obj, "lead-scoring-v2")


@pytest.mark.parametrize("contexts", [
    [{"objectId": "L-1"}],  # plain path
    [{"objectId": " L-1 "}, {}, {}],  # padded: through the serializer
    [],
])
def test_it_refuses_contexts_that_do_not_match_the_rows_one_to_one(api, contexts):
    response = batch(api, leads(2), contexts=contexts)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "contexts_mismatch"
    assert "2 rows" in response.json()["error"]["message"]
    assert not PredictionLog.objects.exists()


@pytest.mark.parametrize("contexts", [
    [{"objectId": "L-1"}, "L-2"],
    [{"objectId": "L-1"}, None],
    [{"objectId": "L-1"}, {"objectId": "x" * 201}],
    [{"objectId": "L-1"}, {"objectId": {"nested": 1}}],
    [{"objectId": "L-1"}, {"objectId": "L\x002"}],
    {"objectId": "L-1"},
])
def test_it_refuses_a_malformed_context_and_stores_nothing(api, contexts):
    response = batch(api, leads(2), contexts=contexts)
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]) >= {"code", "message"}
    assert not PredictionLog.objects.exists()


def test_it_refuses_a_lone_surrogate_in_a_context(api):
    body = json.dumps({"modelId": "lead-scoring-v1", "features": [LEAD], "contexts": [{"objectId": "L-@"}]})
    body = body.replace("@", "\\ud800")  # a lone surrogate, as JSON spells it
    response = api.generic("POST", "/api/v1/predictions/batch/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_text"
    assert not PredictionLog.objects.exists()
