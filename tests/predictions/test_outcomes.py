"""Outcomes by object: POST /outcomes/ and /outcomes/batch/ reach the object's latest
prediction per model within OUTCOME_WINDOW_DAYS and record it exactly as feedback by id does."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from predictions.ids import shadow_id
from predictions.models import PredictionLog
from predictions.recording import log_buffer
from predictions.selectors import live_accuracy
from registry import services
from registry.models import AbMode, MLModel
from tests.predictions.test_ab_report import OTHER
from tests.predictions.test_apis import CHURN, FORECAST, LEAD, RECOMMEND, predict
from tests.predictions.test_feedback import feedback

pytestmark = pytest.mark.django_db


def outcome(api, object_id, actual, object_type="lead", **extra):
    body = {"objectType": object_type, "objectId": object_id, "actual": actual, **extra}
    return api.post("/api/v1/outcomes/", body, format="json")


def predicted(api, model_id, features, object_id, object_type="lead", **extra):
    body = predict(api, model_id, features, context={"objectType": object_type, "objectId": object_id},
                   useCache=False, **extra).json()
    return body["metadata"]["predictionId"], body


def ab_settings(**data) -> MLModel:
    return services.model_update(model=MLModel.objects.get(pk="lead-scoring-v2"), data=data)


def test_it_reaches_the_objects_latest_prediction_of_each_model(api):
    ab_settings(ab_traffic_percentage=100)
    older, _ = predicted(api, "lead-scoring-v1", LEAD, "L-1")
    latest, _ = predicted(api, "lead-scoring-v1", LEAD, "L-1")
    through_ab, _ = predicted(api, "lead-scoring-v2", LEAD, "L-1")
    predicted(api, "lead-scoring-v1", LEAD, "L-2")  # another object
    predicted(api, "lead-scoring-v1", LEAD, "L-1", object_type="contact")  # another type, same id
    response = outcome(api, "L-1", "hot")
    assert response.status_code == 201, response.content
    reached = {r["predictionId"]: r for r in response.json()["reached"]}
    assert set(reached) == {latest, through_ab}
    assert reached[through_ab]["modelId"] == "lead-scoring-v2" == reached[through_ab]["requestedModelId"]
    assert reached[through_ab]["abTestArm"] == "challenger" and reached[through_ab]["recorded"] is True
    assert reached[latest]["correct"] is (PredictionLog.objects.get(pk=latest).label == "hot")
    stored = dict(PredictionLog.objects.exclude(actual=None).values_list("pk", "actual"))
    assert {str(pk) for pk in stored} == {latest, through_ab} and set(stored.values()) == {"hot"}
    assert PredictionLog.objects.get(pk=older).actual is None


def test_it_records_an_outcome_once_and_answers_the_same_outcome_again_with_200(api):
    pid, _ = predicted(api, "churn-prediction-v1", CHURN, "A-1", object_type="account")
    first = outcome(api, "A-1", "high", object_type="account")
    again = outcome(api, "A-1", "HIGH", object_type="account")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["reached"][0]["recorded"] is False
    assert again.json()["reached"][0]["recordedAt"] == first.json()["reached"][0]["recordedAt"]
    assert PredictionLog.objects.get(pk=pid).actual == "high"


def test_it_refuses_a_different_outcome_and_changes_none_of_the_objects_predictions(api):
    ab_settings(ab_traffic_percentage=100)
    direct, _ = predicted(api, "lead-scoring-v1", LEAD, "L-1")
    through_ab, _ = predicted(api, "lead-scoring-v2", LEAD, "L-1")
    assert feedback(api, direct, "warm").status_code == 201  # by id, earlier
    response = outcome(api, "L-1", "cold")
    assert response.status_code == 409 and response.json()["error"]["code"] == "outcome_conflict"
    assert direct in response.json()["error"]["message"]
    assert PredictionLog.objects.get(pk=direct).actual == "warm"
    assert PredictionLog.objects.get(pk=through_ab).actual is None  # all or nothing


def test_it_answers_404_naming_the_window_when_the_object_has_no_prediction_in_it(api, settings):
    settings.HOTCRM = settings.HOTCRM | {"OUTCOME_WINDOW_DAYS": 30}
    pid, _ = predicted(api, "lead-scoring-v1", LEAD, "L-1")
    PredictionLog.objects.filter(pk=pid).update(created_at=timezone.now() - timedelta(days=31))
    for object_id in ("L-1", "L-404"):
        response = outcome(api, object_id, "hot")
        assert response.status_code == 404, response.content
        error = response.json()["error"]
        assert error["code"] == "no_prediction_for_object"
        assert f"lead '{object_id}'" in error["message"] and "30 days (OUTCOME_WINDOW_DAYS)" in error["message"]
    PredictionLog.objects.filter(pk=pid).update(created_at=timezone.now() - timedelta(days=29))
    assert outcome(api, "L-1", "hot").status_code == 201


def test_it_reaches_only_the_model_named_by_model_id(api):
    direct, _ = predicted(api, "lead-scoring-v1", LEAD, "L-1")
    churn, _ = predicted(api, "churn-prediction-v1", CHURN, "L-1")
    response = outcome(api, "L-1", "low", modelId="churn-prediction-v1")
    assert response.status_code == 201, response.content
    assert [r["predictionId"] for r in response.json()["reached"]] == [churn]
    assert PredictionLog.objects.get(pk=direct).actual is None
    assert outcome(api, "L-1", "hot", modelId="sentiment-analysis-v1").status_code == 404


def test_it_reaches_the_arm_that_answered_when_model_id_names_the_ab_test(api):
    # The champion answered this object: its row carries the champion's id and was asked of
    # the challenger; the outcome must reach it there, so that the verdict counts it.
    ab_settings(ab_traffic_percentage=0)
    pid, body = predicted(api, "lead-scoring-v2", LEAD, "L-1")
    assert body["modelId"] == "lead-scoring-v1" and body["metadata"]["abTestArm"] == "champion"
    for model_id in ("lead-scoring-v2", "lead-scoring-v1"):  # the model asked, or the one that answered
        response = outcome(api, "L-1", "hot", modelId=model_id)
        assert response.status_code in (200, 201), response.content
        assert [r["predictionId"] for r in response.json()["reached"]] == [pid]
    report = api.get("/api/v1/models/lead-scoring-v2/ab-test/").json()
    assert report["arms"]["champion"]["outcomes"] == 1


def test_it_names_the_model_whose_labels_refuse_the_outcome(api):
    predicted(api, "lead-scoring-v1", LEAD, "L-1")
    predicted(api, "churn-prediction-v1", CHURN, "L-1")
    response = outcome(api, "L-1", "hot")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_actual"
    assert "churn-prediction-v1" in response.json()["error"]["message"] and "modelId" in response.json()["error"]["message"]
    assert not PredictionLog.objects.exclude(actual=None).exists()


def test_it_checks_the_outcome_against_the_models_kind(api):
    predicted(api, "revenue-forecast-v1", FORECAST, "A-1", object_type="account")
    predicted(api, "product-recommendation-v1", RECOMMEND, "A-2", object_type="account")
    assert outcome(api, "A-1", "high", object_type="account").status_code == 400
    response = outcome(api, "A-1", 150000, object_type="account")
    assert response.status_code == 201 and response.json()["reached"][0]["absoluteError"] is not None
    assert live_accuracy("revenue-forecast-v1")["outcomes"] == 1
    response = outcome(api, "A-2", "crm-core", object_type="account")
    assert response.status_code == 422 and response.json()["error"]["code"] == "outcome_not_supported"


def test_it_counts_toward_live_accuracy_and_the_dashboard_as_feedback_by_id_does(api, client):
    _, body = predicted(api, "lead-scoring-v1", LEAD, "L-1")
    _, other = predicted(api, "lead-scoring-v1", {**LEAD, "budget": 1000}, "L-2")
    assert outcome(api, "L-1", body["prediction"]["class"]).status_code == 201
    assert outcome(api, "L-2", OTHER[other["prediction"]["class"]]).status_code == 201
    assert live_accuracy("lead-scoring-v1") == {"outcomes": 2, "correct": 1, "accuracy": 50.0, "mae": None}
    assert api.get("/api/v1/models/lead-scoring-v1/stats/").json()["accuracy"] == 50.0
    client.force_login(get_user_model().objects.create_superuser("ops", password="a-long-password-1"))
    card = next(m for m in client.get("/dashboard/data/?window=3600").json()["models"] if m["id"] == "lead-scoring-v1")
    assert card["stats"]["accuracy"] == 50.0


def test_it_stores_this_processes_buffered_rows_before_looking(api, settings):
    settings.HOTCRM = settings.HOTCRM | {"METRICS_BUFFER_SIZE": 1000, "METRICS_FLUSH_INTERVAL": 60.0}
    log_buffer().synchronous = False
    try:
        pid, _ = predicted(api, "lead-scoring-v1", LEAD, "L-1")
        assert log_buffer().pending() == 1
        response = outcome(api, "L-1", "hot")
        assert response.status_code == 201, response.content
        assert PredictionLog.objects.get(pk=pid).actual == "hot"
    finally:
        log_buffer().discard()


def test_it_gives_the_shadow_twin_the_same_outcome(api):
    ab_settings(ab_mode=AbMode.SHADOW, ab_traffic_percentage=100)
    pid, body = predicted(api, "lead-scoring-v2", LEAD, "L-1")
    assert body["modelId"] == "lead-scoring-v1"
    response = outcome(api, "L-1", "warm")
    assert response.status_code == 201
    assert [r["predictionId"] for r in response.json()["reached"]] == [pid]  # the twin was never an answer
    assert PredictionLog.objects.get(pk=shadow_id(pid)).actual == "warm"
    report = api.get("/api/v1/models/lead-scoring-v2/ab-test/").json()
    assert report["arms"]["challenger"]["outcomes"] == 1 and report["arms"]["champion"]["outcomes"] == 1


@pytest.mark.parametrize("body", [
    {"objectId": "L-1", "actual": "hot"},
    {"objectType": "lead", "actual": "hot"},
    {"objectType": "lead", "objectId": "L-1"},
    {"objectType": "lead", "objectId": "L-1", "actual": None},
    {"objectType": "lead", "objectId": "", "actual": "hot"},
    {"objectType": "lead", "objectId": "x" * 201, "actual": "hot"},
    {"objectType": "lead", "objectId": "L\x001", "actual": "hot"},
    {"objectType": {"a": 1}, "objectId": "L-1", "actual": "hot"},
    {"objectType": "lead", "objectId": "L-1", "actual": "hot", "modelId": "m" * 101},
    ["not", "an", "object"],
])
def test_it_refuses_a_malformed_outcome_and_stores_nothing(api, body):
    predicted(api, "lead-scoring-v1", LEAD, "L-1")
    response = api.post("/api/v1/outcomes/", body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]) >= {"code", "message"}
    assert not PredictionLog.objects.exclude(actual=None).exists()


@pytest.mark.parametrize("where", ["objectId", "actual"])
def test_it_refuses_a_lone_surrogate_anywhere_in_an_outcome(api, where):
    predicted(api, "lead-scoring-v1", LEAD, "L-1")
    body = json.dumps({"objectType": "lead", "objectId": "L-1", "actual": "hot"})
    body = body.replace('"L-1"' if where == "objectId" else '"hot"', '"\\udc00"')
    for path in ("/api/v1/outcomes/", "/api/v1/outcomes/batch/"):
        data = body if path.endswith("outcomes/") else f'{{"outcomes": [{body}]}}'
        response = api.generic("POST", path, data, content_type="application/json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_text"
    assert not PredictionLog.objects.exclude(actual=None).exists()


def test_a_batch_answers_each_item_as_a_single_outcome_would(api):
    predicted(api, "lead-scoring-v1", LEAD, "L-1")
    taken, _ = predicted(api, "lead-scoring-v1", LEAD, "L-2")
    predicted(api, "lead-scoring-v1", LEAD, "L-3")
    feedback(api, taken, "warm")
    items = [
        {"objectType": "lead", "objectId": "L-1", "actual": "hot"},
        {"objectType": "lead", "objectId": "L-404", "actual": "hot"},
        {"objectType": "lead", "objectId": "L-2", "actual": "cold"},
        {"objectType": "lead", "objectId": "L-3", "actual": "lukewarm"},
        "not an object",
        {"objectType": "lead", "objectId": "L-3"},
        {"objectType": "lead", "objectId": "L-2", "actual": "warm"},
        {"objectType": "lead", "objectId": "L-3", "actual": "cold"},
    ]
    response = api.post("/api/v1/outcomes/batch/", {"outcomes": items}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["status"] for r in body["results"]] == [201, 404, 409, 400, 400, 400, 200, 201]
    assert (body["recorded"], body["unchanged"], body["failed"]) == (2, 1, 5)
    assert [r.get("error", {}).get("code") for r in body["results"]] == [
        None, "no_prediction_for_object", "outcome_conflict", "invalid_actual", "invalid_input", "invalid_input",
        None, None]
    assert body["results"][0]["objectId"] == "L-1" and body["results"][4]["objectId"] is None
    assert body["results"][0]["reached"][0]["recorded"] is True
    assert dict(PredictionLog.objects.values_list("object_id", "actual")) == {"L-1": "hot", "L-2": "warm", "L-3": "cold"}


@pytest.mark.parametrize(("body", "code"), [
    ({"outcomes": []}, "invalid_batch"),
    ({"outcomes": {"objectId": "L-1"}}, "invalid_batch"),
    ({}, "invalid_batch"),
    ([], "invalid_batch"),
    ({"outcomes": [{"objectType": "lead", "objectId": "L-1", "actual": "hot"}] * 1001}, "batch_too_large"),
])
def test_a_batch_is_refused_whole_only_when_it_is_not_a_list_of_at_most_the_limit(api, body, code):
    predicted(api, "lead-scoring-v1", LEAD, "L-1")
    response = api.post("/api/v1/outcomes/batch/", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert not PredictionLog.objects.exclude(actual=None).exists()


def test_a_batch_judges_its_items_in_order(api):
    predicted(api, "lead-scoring-v1", LEAD, "L-1")
    items = [{"objectType": "lead", "objectId": "L-1", "actual": actual} for actual in ("hot", "hot", "cold")]
    body = api.post("/api/v1/outcomes/batch/", {"outcomes": items}, format="json").json()
    assert [r["status"] for r in body["results"]] == [201, 200, 409]
    assert PredictionLog.objects.get().actual == "hot"


def test_a_full_batch_is_taken(api):
    response = api.post("/api/v1/predictions/batch/", {
        "modelId": "lead-scoring-v1", "features": [LEAD] * 1000, "useCache": False,
        "contexts": [{"objectType": "lead", "objectId": f"L-{n}"} for n in range(1000)]}, format="json")
    assert response.status_code == 200
    items = [{"objectType": "lead", "objectId": f"L-{n}", "actual": "hot"} for n in range(1000)]
    body = api.post("/api/v1/outcomes/batch/", {"outcomes": items}, format="json").json()
    assert body["recorded"] == 1000 and body["failed"] == 0
    assert PredictionLog.objects.filter(actual="hot").count() == 1000


def test_it_needs_a_token(client):
    assert client.post("/api/v1/outcomes/", {}, content_type="application/json").status_code == 401
    assert client.post("/api/v1/outcomes/batch/", {}, content_type="application/json").status_code == 401


def test_it_reaches_challenger_ahead_from_outcomes_posted_by_object_only(api):
    """The A/B verdict of test_ab_report's scenario, with predictions made in batches that
    carry each lead's context and outcomes posted by object (never by prediction id)."""
    ab_settings(ab_traffic_percentage=50)
    rng = random.Random(1)
    leads = [{**LEAD, "engagement_score": n % 101, "company_size": 10 + n} for n in range(300)]
    arms = {}
    for start in (0, 150):
        response = api.post("/api/v1/predictions/batch/", {
            "modelId": "lead-scoring-v2", "features": leads[start:start + 150],
            "contexts": [{"objectType": "lead", "objectId": f"L-{n}"} for n in range(start, start + 150)],
        }, format="json")
        assert response.status_code == 200, response.content
        for n, result in enumerate(response.json()["results"], start):
            arms[f"L-{n}"] = (result["metadata"]["abTestArm"], result["prediction"]["class"])
    items = []
    for object_id, (arm, label) in arms.items():
        right = 0.92 if arm == "challenger" else 0.72
        items.append({"objectType": "lead", "objectId": object_id, "actual": label if rng.random() < right else OTHER[label]})
    for item in items[:20]:  # one by one, and the rest as a batch
        assert outcome(api, item["objectId"], item["actual"]).status_code == 201
    body = api.post("/api/v1/outcomes/batch/", {"outcomes": items[20:]}, format="json").json()
    assert body["recorded"] == 280 and body["failed"] == 0
    report = api.get("/api/v1/models/lead-scoring-v2/ab-test/").json()
    challenger, champion = report["arms"]["challenger"], report["arms"]["champion"]
    assert challenger["outcomes"] + champion["outcomes"] == 300
    assert challenger["outcomes"] == challenger["predictions"] and champion["outcomes"] == champion["predictions"]
    assert report["significance"]["winner"] == "challenger"
    assert report["verdict"] == "challenger ahead at 95% confidence"
