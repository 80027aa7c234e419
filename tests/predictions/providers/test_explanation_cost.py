"""No cost amplification: one explanation of a remote model sends at most
EXPLANATION_MAX_UPSTREAM_ROWS rows upstream (refused up front with a 422 that says what to
change), and every row it sends counts against the caller's throttle rate."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apiauth.services import token_create
from tests.predictions.providers.conftest import register
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db
WIDE = {"features": [{"name": f"f{i}", "type": "number"} for i in range(8)]}


def one_row_per_call(server):
    """Like an `openai` model: every row is its own (paid) call."""
    server.handle = lambda request: Reply(200, {"score": sum(request.json().values())})
    return {"request": {"rowsKey": None}, "response": {"predictionsPath": "", "valuePath": "score",
                                                       "outputKey": "score"}}


def test_it_refuses_an_explanation_that_would_send_too_many_rows_before_any_call(api, server):
    background = [{f"f{i}": float(i + j) for i in range(8)} for j in range(100)]
    register("paid-per-row", "custom", endpoint=f"{server.url}/score", schema=WIDE,
             config={**one_row_per_call(server), "explanationBackground": background})
    response = api.post("/api/v1/explanations/", {"modelId": "paid-per-row",
                                                  "features": {f"f{i}": 1.0 for i in range(8)}}, format="json")
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "explanation_too_costly"
    assert "EXPLANATION_MAX_UPSTREAM_ROWS" in error["message"] and "explanationBackground" in error["message"]
    assert server.requests == []


def test_it_samples_within_the_bound_when_sampling_fits(api, server, settings, monkeypatch):
    monkeypatch.setitem(settings.HOTCRM, "EXPLANATION_MAX_UPSTREAM_ROWS", 200)
    background = [{f"f{i}": float(i + j) for i in range(8)} for j in range(4)]
    register("paid-small", "custom", endpoint=f"{server.url}/score", schema=WIDE,
             config={**one_row_per_call(server), "explanationBackground": background})
    response = api.post("/api/v1/explanations/", {"modelId": "paid-small",
                                                  "features": {f"f{i}": 1.0 for i in range(8)}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["method"]["name"] == "permutation"
    assert len(server.requests) <= 200


def test_each_row_an_explanation_sends_counts_against_the_callers_rate(server):
    _, key = token_create(name="metered", throttle_rate="60/min")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    schema = {"features": WIDE["features"][:3]}
    background = [{"f0": float(j), "f1": 2.0 * j, "f2": 3.0 * j} for j in range(5)]
    register("metered-model", "custom", endpoint=f"{server.url}/score", schema=schema,
             config={**one_row_per_call(server), "explanationBackground": background})
    first = client.post("/api/v1/explanations/", {"modelId": "metered-model", "useCache": False,
                                                  "features": {"f0": 9.0, "f1": 1.0, "f2": 2.0}}, format="json")
    assert first.status_code == 200, first.content
    assert len(server.requests) >= 25  # 2^3 coalitions x 5 background rows, less repeats
    second = client.post("/api/v1/explanations/", {"modelId": "metered-model", "useCache": False,
                                                   "features": {"f0": 8.0, "f1": 1.0, "f2": 2.0}}, format="json")
    assert second.status_code == 429 and "Retry-After" in second.headers
