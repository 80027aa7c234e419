"""The same explanations through a remote provider: a built-in model served over HTTP by a
local KServe V1 server (POST {"instances": [...]} -> {"predictions": [...]}) and registered
as provider `custom`, so the real `custom` provider and its HTTP client are exercised."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from ml.builtin import synthetic
from predictions import providers
from registry.selectors import model_get
from tests.explanations.support import shap_exact
from tests.ml.support import COLD_LEAD, HOT_LEAD, clean

pytestmark = pytest.mark.django_db
BACKGROUND_ROWS = 40


@pytest.fixture
def served_lead_model(db):
    """lead-scoring-v1's predictor behind a KServe V1 endpoint; yields (predictor, request log)."""
    model = model_get("lead-scoring-v1")
    predictor = providers.provider_for(model).predictor(model)
    requests: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            rows = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["instances"]
            requests.append(len(rows))
            outputs = predictor.output(predictor.encode(rows))
            body = json.dumps({"predictions": [
                {"score": float(o), "confidence": round(100 * max(o, 100 - o) / 100, 2)} for o in outputs
            ]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield predictor, requests, f"http://127.0.0.1:{server.server_address[1]}/v1/models/leads:predict"
    finally:
        server.shutdown()
        server.server_close()


def background_rows():
    rows = synthetic.leads(n=2_000, seed=99).rows
    return [rows[i] for i in np.random.default_rng(1).choice(len(rows), BACKGROUND_ROWS, replace=False)]


def register(staff_api, endpoint, config):
    schema = model_get("lead-scoring-v1").feature_schema
    response = staff_api.post("/api/v1/models/", {
        "id": "remote-leads", "name": "Lead scoring over HTTP", "version": "1.0.0", "type": "classification",
        "provider": "custom", "featureSchema": schema,
        "providerConfig": {"provider": "custom", "endpoint": endpoint, "config": config},
    }, format="json")
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("features", [HOT_LEAD, COLD_LEAD])
def test_it_explains_a_remote_model_as_shap_does_in_one_batched_call(api, staff_api, served_lead_model, features):
    predictor, requests, endpoint = served_lead_model
    background = background_rows()
    register(staff_api, endpoint, {"explanationBackground": background})

    response = api.post("/api/v1/explanations/", {"modelId": "remote-leads", "features": features}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    base, values = shap_exact(predictor, predictor.encode([clean("lead-scoring-v1", features)])[0],
                              predictor.encode([clean("lead-scoring-v1", row) for row in background]))
    ours = {c["feature"]: c["shapValue"] for c in body["featureContributions"]}
    for name, value in zip(predictor.space().feature_names, values, strict=True):
        assert ours[name] == pytest.approx(value, abs=1e-6), name
    assert body["baseValue"] == pytest.approx(base, abs=1e-6)
    assert body["baseValue"] + sum(ours.values()) == pytest.approx(body["outputValue"], abs=1e-9)
    assert body["outputName"] == "score"
    assert len(requests) == 1  # every coalition row of the enumeration in one call
    assert requests[0] <= 2**5 * BACKGROUND_ROWS


def test_it_compares_through_a_remote_model(api, staff_api, served_lead_model):
    predictor, requests, endpoint = served_lead_model
    register(staff_api, endpoint, {"explanationBackground": background_rows()})
    second = {**HOT_LEAD, "engagement_score": 30, "industry": "Retail"}
    response = api.post("/api/v1/explanations/compare/",
                        {"modelId": "remote-leads", "features1": HOT_LEAD, "features2": second}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    outputs = predictor.output(predictor.encode([clean("lead-scoring-v1", HOT_LEAD), clean("lead-scoring-v1", second)]))
    assert {d["feature"] for d in body["differences"]} == {"engagement_score", "industry"}
    assert sum(d["impact"] for d in body["differences"]) == pytest.approx(outputs[1] - outputs[0], abs=1e-9)
    assert len(requests) == 1 and requests[0] == 4  # the four coalitions of two changed features


def test_it_says_when_a_remote_model_has_no_background(api, staff_api, served_lead_model):
    _, requests, endpoint = served_lead_model
    register(staff_api, endpoint, {})
    response = api.post("/api/v1/explanations/", {"modelId": "remote-leads", "features": HOT_LEAD}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "no_background"
    assert "explanationBackground" in response.json()["error"]["message"]
    assert requests == []


def test_it_rejects_an_invalid_configured_background(api, staff_api, served_lead_model):
    _, requests, endpoint = served_lead_model
    register(staff_api, endpoint, {"explanationBackground": [{**HOT_LEAD, "budget": "lots"}]})
    response = api.post("/api/v1/explanations/", {"modelId": "remote-leads", "features": HOT_LEAD}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_background"
    assert requests == []


def test_it_reports_a_failing_remote_model_as_a_502(api, staff_api, served_lead_model):
    register(staff_api, "http://127.0.0.1:9/nothing-listens-here", {"explanationBackground": background_rows()})
    response = api.post("/api/v1/explanations/", {"modelId": "remote-leads", "features": HOT_LEAD}, format="json")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_failed"
