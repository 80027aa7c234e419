"""Strings no database can store (NUL, lone UTF-16 surrogates) are refused at the boundary,
at any depth of a request; non-finite numbers in a provider's answer are a 502, never cached."""

from __future__ import annotations

import json

import pytest

from core.validation import non_finite_number, storable_text_error, unstorable_text
from predictions.models import PredictionLog

pytestmark = pytest.mark.django_db
LEAD = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
        "job_title": "VP of Sales", "budget": 120000}


def _post(client, path, text):
    return client.generic("POST", path, text.encode(), content_type="application/json")


def test_it_finds_unstorable_text_at_any_depth_keys_included():
    assert unstorable_text({"a": [{"b": "ok"}, {"c": "x\ud800"}]}) == "a.1.c"
    assert unstorable_text({"a": {"k\x00": 1}}) == "a key of a"
    assert unstorable_text({"a": ["fine", "😀", "ä"]}) is None
    assert "cannot be stored" in storable_text_error(["\udfff"], "features")
    assert non_finite_number({"a": [1.0, {"b": float("nan")}]}) == "a.1.b"
    assert non_finite_number({"a": [1.0, 2]}) is None


@pytest.mark.parametrize("context", [r'{"objectId": "L-\ud800"}', r'{"objectId": "L-\u0000-1"}',
                                     r'{"objectType": "lead", "\udc00": "x"}'])
def test_it_refuses_a_prediction_whose_context_cannot_be_stored(api, context):
    before = PredictionLog.objects.count()
    body = f'{{"modelId": "lead-scoring-v1", "features": {json.dumps(LEAD)}, "context": {context}}}'
    response = _post(api, "/api/v1/predictions/", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_text"
    assert PredictionLog.objects.count() == before
    # And recording goes on for everyone else.
    assert api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1", "features": LEAD},
                    format="json").status_code == 200
    assert PredictionLog.objects.count() == before + 1


def test_it_refuses_a_batch_with_one_unstorable_string_deep_in_a_row(api):
    rows = [dict(LEAD) for _ in range(5)]
    body = json.dumps({"modelId": "lead-scoring-v1", "features": rows})
    body = body.replace('"VP of Sales"', '"VP \\ud83d of Sales"', 1)
    response = _post(api, "/api/v1/predictions/batch/", body)
    assert response.status_code == 400 and "features.0.job_title" in response.json()["error"]["message"]


def test_the_registry_refuses_a_model_whose_json_holds_a_surrogate(staff_api, api):
    body = json.dumps({"id": "surrogate-v1", "name": "x", "version": "1", "type": "regression",
                       "featureSchema": {"features": [{"name": "amount", "type": "number",
                                                       "description": "SURROGATE"}]}})
    response = _post(staff_api, "/api/v1/models/", body.replace("SURROGATE", "\\ud800"))
    assert response.status_code == 400, response.content
    assert api.get("/api/v1/models/").status_code == 200


def test_the_registry_model_refuses_it_whatever_the_door(db):
    from django.core.exceptions import ValidationError

    from registry import services

    with pytest.raises(ValidationError) as raised:
        services.model_register(data={"id": "surrogate-v2", "name": "x\ud800", "version": "1",
                                      "type": "regression", "metrics": {"auc": {"\x00": 1}}})
    assert set(raised.value.message_dict) == {"name", "metrics"}
