"""Models beyond the exact limit, models no explanation fits, and models not active."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from registry.models import MLModel
from registry.services import registry_changed

pytestmark = pytest.mark.django_db
WIDTH = 14
WEIGHTS = np.linspace(-3, 3, WIDTH)


@pytest.fixture
def linear_endpoint():
    """A KServe V1 endpoint answering a linear score of 14 numbers; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            rows = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["instances"]
            matrix = np.array([[row[f"f{i}"] for i in range(WIDTH)] for row in rows], dtype=float)
            body = json.dumps({"predictions": (matrix @ WEIGHTS + 10).tolist()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/models/wide:predict"
    finally:
        server.shutdown()
        server.server_close()


def test_it_samples_beyond_twelve_features_and_states_the_error(api, staff_api, linear_endpoint):
    rng = np.random.default_rng(0)
    background = [{f"f{i}": round(float(v), 3) for i, v in enumerate(rng.normal(size=WIDTH))} for _ in range(20)]
    response = staff_api.post("/api/v1/models/", {
        "id": "wide-remote", "name": "Fourteen numbers", "version": "1.0.0", "type": "regression",
        "provider": "custom",
        "featureSchema": {"features": [{"name": f"f{i}", "type": "number"} for i in range(WIDTH)]},
        "providerConfig": {"provider": "custom", "endpoint": linear_endpoint,
                           "config": {"explanationBackground": background, "response": {"outputKey": "score"}}},
    }, format="json")
    assert response.status_code == 201, response.json()
    x = {f"f{i}": float(i) for i in range(WIDTH)}

    response = api.post("/api/v1/explanations/", {"modelId": "wide-remote", "features": x}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["method"]["name"] == "permutation" and body["method"]["permutations"] >= 4
    values = {c["feature"]: c for c in body["featureContributions"]}
    mean = {name: np.mean([b[name] for b in background]) for name in x}
    # a linear model's Shapley values are w_i (x_i - mean_i): sampling must find them exactly
    for i, name in enumerate(x):
        assert values[name]["shapValue"] == pytest.approx(WEIGHTS[i] * (x[name] - mean[name]), abs=1e-9)
        assert values[name]["standardError"] == pytest.approx(0, abs=1e-9)
    assert body["baseValue"] + sum(c["shapValue"] for c in values.values()) == pytest.approx(body["outputValue"], abs=1e-9)
    assert body["outputValue"] == pytest.approx(float(np.array(list(x.values())) @ WEIGHTS + 10), abs=1e-9)


def test_it_says_422_when_no_explanation_fits_the_model(api, staff_api):
    response = staff_api.post("/api/v1/models/", {
        "id": "remote-forecast", "name": "Forecast over HTTP", "version": "1.0.0", "type": "forecasting",
        "provider": "custom",
        "featureSchema": {"features": [{"name": "history", "type": "number_list"}]},
        "providerConfig": {"provider": "custom", "endpoint": "http://127.0.0.1:9/never-called"},
    }, format="json")
    assert response.status_code == 201, response.json()
    response = api.post("/api/v1/explanations/", {"modelId": "remote-forecast", "features": {"history": [1, 2]}},
                        format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "explanation_not_supported"
    assert "history" in response.json()["error"]["message"]


def test_it_refuses_a_model_that_is_not_active(api):
    MLModel.objects.filter(pk="churn-prediction-v1").update(status="inactive")
    registry_changed()
    response = api.post("/api/v1/explanations/", {"modelId": "churn-prediction-v1", "features": {}}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "model_not_active"


def test_it_explains_an_empty_text_as_its_base_value(api):
    response = api.post("/api/v1/explanations/", {"modelId": "sentiment-analysis-v1", "features": {"text": ""}},
                        format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["featureContributions"] == [] and body["outputValue"] == body["baseValue"]


def test_it_refuses_a_text_too_long_to_explain_word_by_word(api):
    text = " ".join(["fine"] * 201)
    response = api.post("/api/v1/explanations/", {"modelId": "sentiment-analysis-v1", "features": {"text": text}},
                        format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "text_too_long_to_explain"
