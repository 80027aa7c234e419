"""A/B tests through the API: the model that answered is the one reported, logged and
measured; shadow answers are logged and never returned."""

from __future__ import annotations

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test.client import RequestFactory

from monitoring.models import Metric
from predictions.ids import shadow_id
from predictions.models import PredictionLog
from registry import services
from registry.models import AbMode, MLModel
from tests.predictions.test_apis import LEAD, predict

pytestmark = pytest.mark.django_db


def ab_settings(**data) -> MLModel:
    challenger = MLModel.objects.get(pk="lead-scoring-v2")
    return services.model_update(model=challenger, data=data)


def test_it_reports_logs_and_measures_the_model_that_answered(api):
    ab_settings(ab_traffic_percentage=50)
    seen = set()
    for n in range(60):
        body = predict(api, "lead-scoring-v2", LEAD, context={"objectId": f"L-{n}"}).json()
        arm, model_id = body["metadata"]["abTestArm"], body["modelId"]
        assert (arm, model_id) in {("challenger", "lead-scoring-v2"), ("champion", "lead-scoring-v1")}
        assert body["metadata"]["requestedModelId"] == "lead-scoring-v2"
        assert body["modelVersion"] == MLModel.objects.get(pk=model_id).version
        log = PredictionLog.objects.get(pk=body["metadata"]["predictionId"])
        assert (log.model_id, log.ab_arm, log.shadow) == (model_id, arm, False)
        seen.add(arm)
    assert seen == {"challenger", "champion"}
    by_arm = {(m, a) for m, a in Metric.objects.values_list("model_id", "ab_arm")}
    assert by_arm == {("lead-scoring-v2", "challenger"), ("lead-scoring-v1", "champion")}


def test_it_gives_an_object_the_same_model_on_every_call(api):
    first = {n: predict(api, "lead-scoring-v2", LEAD, context={"objectId": f"L-{n}"}).json()["modelId"]
             for n in range(40)}
    for n, model_id in first.items():
        again = predict(api, "lead-scoring-v2", LEAD, context={"objectId": f"L-{n}"}, useCache=False)
        assert again.json()["modelId"] == model_id


def test_it_lets_a_caller_force_an_arm_with_ab_arm(api):
    ab_settings(ab_traffic_percentage=0)
    body = predict(api, "lead-scoring-v2", LEAD, context={"objectId": "L-1"}, abArm="challenger").json()
    assert body["modelId"] == "lead-scoring-v2" and body["metadata"]["abTestArm"] == "challenger"
    ab_settings(ab_traffic_percentage=100)
    body = predict(api, "lead-scoring-v2", LEAD, context={"objectId": "L-1"}, abArm="champion").json()
    assert body["modelId"] == "lead-scoring-v1" and body["metadata"]["abTestArm"] == "champion"


def test_it_refuses_an_unknown_forced_arm_and_stores_nothing(api):
    response = predict(api, "lead-scoring-v2", LEAD, abArm="both")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"
    response = predict(api, "churn-prediction-v1", {"account_age": 1, "support_tickets": 0,
                                                    "usage_frequency": 1, "nps_score": 0,
                                                    "payment_delays": 0}, abArm="champion")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_arm"
    assert not PredictionLog.objects.exists() and not Metric.objects.exists()


def test_it_never_returns_a_shadow_answer_and_logs_it(api):
    ab_settings(ab_mode=AbMode.SHADOW, ab_traffic_percentage=50)
    shadowed = 0
    for n in range(80):
        body = predict(api, "lead-scoring-v2", LEAD, context={"objectId": f"L-{n}"}).json()
        assert body["modelId"] == "lead-scoring-v1" and body["metadata"]["abTestArm"] == "champion"
        twin = PredictionLog.objects.filter(pk=shadow_id(body["metadata"]["predictionId"])).first()
        if twin is not None:
            shadowed += 1
            assert twin.shadow and twin.model_id == "lead-scoring-v2" and twin.ab_arm == "shadow"
            assert twin.object_id == f"L-{n}" and twin.prediction["class"] in {"hot", "warm", "cold"}
    assert 20 <= shadowed <= 60
    assert PredictionLog.objects.filter(shadow=True).count() == shadowed
    assert Metric.objects.filter(model_id="lead-scoring-v2", ab_arm="shadow", success=True).count() == shadowed


def test_it_runs_the_shadow_after_the_response_is_handed_back():
    ab_settings(ab_mode=AbMode.SHADOW, ab_traffic_percentage=100)
    from apiauth.services import token_create

    _, key = token_create(name="wsgi")
    request = RequestFactory().post(
        "/api/v1/predictions/", {"modelId": "lead-scoring-v2", "features": LEAD},
        content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}",
    )
    # As Django's test client does: the test's database connection must survive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = WSGIHandler()(request.environ, lambda status, headers: None)
        assert response.status_code == 200
        assert not PredictionLog.objects.filter(shadow=True).exists()
        response.close()  # what the WSGI server does once the body is sent
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert PredictionLog.objects.filter(shadow=True, model_id="lead-scoring-v2").count() == 1


def test_it_keeps_answering_when_the_shadow_challenger_fails(api):
    untrained = MLModel.objects.get(pk="lead-scoring-v2")
    untrained.pk, untrained.version = "lead-scoring-untrained", "9.9.9"
    untrained.ab_enabled, untrained.ab_champion = False, None
    untrained.save(force_insert=True)
    services.model_update(model=untrained, data={
        "ab_enabled": True, "ab_champion": MLModel.objects.get(pk="lead-scoring-v1"),
        "ab_mode": AbMode.SHADOW, "ab_traffic_percentage": 100,
    })
    response = predict(api, "lead-scoring-untrained", LEAD)
    assert response.status_code == 200 and response.json()["modelId"] == "lead-scoring-v1"
    failure = Metric.objects.get(model_id="lead-scoring-untrained")
    assert not failure.success and failure.ab_arm == "shadow" and failure.error_code == "model_not_trained"
    assert not PredictionLog.objects.filter(shadow=True).exists()


def test_it_shadows_batch_rows_too(api):
    ab_settings(ab_mode=AbMode.SHADOW, ab_traffic_percentage=100)
    response = api.post("/api/v1/predictions/batch/", {"modelId": "lead-scoring-v2", "features": [LEAD] * 3},
                        format="json")
    assert {r["modelId"] for r in response.json()["results"]} == {"lead-scoring-v1"}
    assert PredictionLog.objects.filter(shadow=True, model_id="lead-scoring-v2").count() == 3
