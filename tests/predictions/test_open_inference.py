"""The service speaking the Open Inference Protocol (KServe V2) itself: Triton's own HTTP
client (tritonclient from PyPI) against a live server, then the request checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.db.models import Sum
from django.test import override_settings

from monitoring.models import Metric
from predictions.models import PredictionLog
from tests.predictions.test_apis import LEAD

ROWS = [LEAD, dict(LEAD, engagement_score=10, job_title="Sales Intern", company_size=5)]


def lead_inputs(rows):
    from tritonclient.http import InferInput

    inputs = []
    for name, datatype in [("company_size", "INT64"), ("industry", "BYTES"), ("engagement_score", "FP64"),
                           ("job_title", "BYTES"), ("budget", "FP64")]:
        column = InferInput(name, [len(rows), 1], datatype)
        dtype = object if datatype == "BYTES" else (np.int64 if datatype == "INT64" else np.float64)
        column.set_data_from_numpy(np.array([[r[name]] for r in rows], dtype=dtype), binary_data=False)
        inputs.append(column)
    return inputs


def text(values):
    """BYTES outputs as str (tritonclient gives bytes or str depending on how it parsed them)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.ravel()]


def outputs(*names):
    from tritonclient.http import InferRequestedOutput

    return [InferRequestedOutput(name, binary_data=False) for name in names]


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
class TestTritonClient:
    @pytest.fixture
    def client(self, live_server):
        import tritonclient.http as triton

        from tests.monitoring.support import ensure_builtin_models

        ensure_builtin_models()
        client = triton.InferenceServerClient(url=live_server.url.removeprefix("http://"))
        yield client
        client.close()

    def test_it_answers_tritons_client_like_the_rest_api(self, client, service_token, api):
        auth = {"Authorization": f"Token {service_token}"}
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("lead-scoring-v1", headers=auth)
        meta = client.get_model_metadata("lead-scoring-v1", headers=auth)
        assert [i["name"] for i in meta["inputs"]] == list(LEAD)
        result = client.infer("lead-scoring-v1", lead_inputs(ROWS), headers=auth,
                              outputs=outputs("score", "class", "confidence", "prediction_id"))
        rest = [api.post("/api/v1/predictions/", {"modelId": "lead-scoring-v1", "features": r}, format="json").json()
                for r in ROWS]
        assert result.as_numpy("score").ravel().tolist() == pytest.approx([r["prediction"]["score"] for r in rest])
        assert text(result.as_numpy("class")) == [r["prediction"]["class"] for r in rest]
        assert result.as_numpy("confidence").ravel().tolist() == pytest.approx([r["confidence"] for r in rest])
        assert all(r["cached"] for r in rest)  # the V2 call stored them in the shared cache
        ids = text(result.as_numpy("prediction_id"))
        assert PredictionLog.objects.filter(id__in=ids, model_id="lead-scoring-v1").count() == 2
        metrics = Metric.objects.filter(model_id="lead-scoring-v1")
        assert metrics.aggregate(n=Sum("rows"))["n"] == 4  # per prediction
        assert metrics.filter(timed=True).count() == 3  # per request: the V2 call and 2 REST ones

    def test_it_routes_v2_traffic_through_the_ab_test(self, client, service_token):
        auth = {"Authorization": f"Token {service_token}"}
        rows = [dict(LEAD, engagement_score=i) for i in range(60)]
        result = client.infer("lead-scoring-v2", lead_inputs(rows), headers=auth, outputs=outputs("model_id"))
        arms = set(text(result.as_numpy("model_id")))
        assert arms == {"lead-scoring-v1", "lead-scoring-v2"}  # 20 % challenger: both answer 60 rows
        assert PredictionLog.objects.filter(requested_model_id="lead-scoring-v2").count() == 60

    def test_it_refuses_a_client_without_a_token(self, client):
        from tritonclient.utils import InferenceServerException

        with pytest.raises(InferenceServerException) as refused:
            client.infer("lead-scoring-v1", lead_inputs(ROWS[:1]))
        assert "credentials were not provided" in refused.value.message()
        assert not PredictionLog.objects.exists()

    def test_its_errors_reach_tritons_client_as_text(self, client, service_token):
        from tritonclient.utils import InferenceServerException

        rows = [dict(LEAD, engagement_score=150)]
        with pytest.raises(InferenceServerException) as refused:
            client.infer("lead-scoring-v1", lead_inputs(rows), headers={"Authorization": f"Token {service_token}"})
        assert "engagement_score" in refused.value.message()


# --- the request checks, through Django's test client ----------------------------------------


def infer(api, model_id, inputs, **extra):
    # Encoded here (ASCII escapes): a lone surrogate must reach the server as JSON sends it.
    body = json.dumps({"inputs": inputs, **extra})
    return api.post(f"/v2/models/{model_id}/infer", body, content_type="application/json")


def lead_columns(rows, **override):
    types = {"company_size": "INT64", "industry": "BYTES", "engagement_score": "FP64", "job_title": "BYTES",
             "budget": "FP64"}
    return [{"name": n, "datatype": t, "shape": [len(rows), 1], "data": [r[n] for r in rows], **override.get(n, {})}
            for n, t in types.items()]


@pytest.mark.django_db
def test_it_answers_the_chosen_outputs_and_echoes_the_request_id(api):
    response = infer(api, "lead-scoring-v1", lead_columns(ROWS), id="req-7", outputs=[{"name": "class"}])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == "req-7" and body["model_name"] == "lead-scoring-v1"
    assert [o["name"] for o in body["outputs"]] == ["class"]
    assert body["outputs"][0]["shape"] == [2, 1] and body["outputs"][0]["datatype"] == "BYTES"


@pytest.mark.django_db
def test_it_takes_list_features_as_json_text(api):
    from tests.predictions.test_apis import FORECAST

    columns = [{"name": k, "datatype": "BYTES" if isinstance(v, list) else "FP64", "shape": [1],
                "data": [json.dumps(v) if isinstance(v, list) else v]} for k, v in FORECAST.items()]
    response = infer(api, "revenue-forecast-v1", columns)
    assert response.status_code == 200, response.content
    forecast = next(o for o in response.json()["outputs"] if o["name"] == "forecast")
    assert forecast["datatype"] == "BYTES" and "period" in forecast["data"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(("columns", "code", "words"), [
    (lead_columns(ROWS, budget={"shape": [2, 3]}), "invalid_v2_request", "shape [n] or [n, 1]"),
    (lead_columns(ROWS, budget={"data": [1.0]}), "invalid_v2_request", "holds 1 values"),
    (lead_columns(ROWS, budget={"data": ["a lot", 5]}), "invalid_v2_request", "finite numbers"),
    (lead_columns(ROWS, industry={"datatype": "STRING"}), "invalid_v2_request", "datatype"),
    (lead_columns(ROWS, job_title={"data": [3, 4]}), "invalid_v2_request", "other than strings"),
    ([*lead_columns(ROWS), {"name": "ssn", "datatype": "BYTES", "shape": [2, 1], "data": ["x", "y"]}],
     "unknown_feature", "not a feature"),
    (lead_columns(ROWS, engagement_score={"data": [150.0, 20.0]}), None, "engagement_score"),
    (lead_columns(ROWS, job_title={"data": ["CEO\u0000", "VP"]}), "invalid_text", "NUL character"),
    (lead_columns(ROWS, job_title={"data": ["CEO\ud800", "VP"]}), "invalid_text", "lone surrogate"),
    ([], "invalid_v2_request", "non-empty 'inputs'"),
])
def test_it_refuses_a_bad_request_with_a_400_and_stores_nothing(api, columns, code, words):
    response = infer(api, "lead-scoring-v1", columns)
    assert response.status_code == 400, response.content
    body = response.json()
    assert words in body["error"] and (code is None or body["code"] == code)
    assert not PredictionLog.objects.exists()


@pytest.mark.django_db
def test_it_answers_404_for_an_unknown_model_or_version(api):
    assert infer(api, "no-such-model", lead_columns(ROWS)).status_code == 404
    response = api.post("/v2/models/lead-scoring-v1/versions/9.9.9/infer", {"inputs": lead_columns(ROWS)},
                        format="json")
    assert response.status_code == 404


@pytest.mark.django_db
def test_its_health_is_open_and_its_models_need_a_token(client):
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/lead-scoring-v1").status_code == 401
    assert client.post("/v2/models/lead-scoring-v1/infer", {}, content_type="application/json").status_code == 401


@pytest.mark.django_db
@override_settings()
def test_it_refuses_more_rows_than_a_batch_may_hold(api, settings):
    settings.HOTCRM = {**settings.HOTCRM, "BATCH_LIMIT": 3}
    rows = [LEAD] * 4
    response = infer(api, "lead-scoring-v1", lead_columns(rows))
    assert response.status_code == 400 and response.json()["code"] == "batch_too_large"
