"""Bring your own model: a scikit-learn pipeline converted by skl2onnx, uploaded through the
API, answers exactly as scikit-learn does, is explained by the exact Shapley engine and is
A/B-tested against a built-in model; what is not a servable ONNX model is refused."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ml.builtin import synthetic
from ml.builtin.training import LEAD_SCHEMA
from registry import services
from registry.models import MLModel, ModelArtifact

pytestmark = pytest.mark.django_db
COLUMNS = ["company_size", "industry", "engagement_score", "job_title", "budget"]


@pytest.fixture(scope="module")
def pipeline():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    data = synthetic.leads(n=3000, seed=11)
    frame = pd.DataFrame(data.rows, columns=COLUMNS)
    fitted = Pipeline([
        ("prep", ColumnTransformer([
            ("words", OneHotEncoder(handle_unknown="ignore"), ["industry", "job_title"]),
            ("numbers", StandardScaler(), ["company_size", "engagement_score", "budget"]),
        ])),
        ("model", LogisticRegression(max_iter=1000)),
    ]).fit(frame, np.where(data.labels == 1, "yes", "no"))
    onnx = convert_sklearn(fitted, initial_types=[
        ("company_size", Int64TensorType([None, 1])), ("industry", StringTensorType([None, 1])),
        ("engagement_score", FloatTensorType([None, 1])), ("job_title", StringTensorType([None, 1])),
        ("budget", FloatTensorType([None, 1])),
    ], options={"zipmap": False})
    return fitted, onnx.SerializeToString()


def register(model_id, *, schema=LEAD_SCHEMA, config=None, **fields):
    return services.model_register(data={
        "id": model_id, "name": model_id, "version": "1.0.0", "type": "classification", "provider": "local",
        "feature_schema": schema, "provider_config": {"config": config or {}}, "cache_ttl": 0, **fields})


def upload(api, model_id, data, name="model.onnx"):
    return api.post(f"/api/v1/models/{model_id}/artifact/", {"file": SimpleUploadedFile(name, data)},
                    format="multipart")


def test_it_serves_an_uploaded_pipeline_exactly_as_scikit_learn_does(staff_api, pipeline):
    fitted, data = pipeline
    register("lead-onnx-v1")
    response = upload(staff_api, "lead-onnx-v1", data)
    assert response.status_code == 201, response.content
    found = response.json()["artifact"]
    assert found["kind"] == "classifier" and found["labels"] == ["no", "yes"]
    rows = synthetic.leads(n=200, seed=99).rows
    results = staff_api.post("/api/v1/predictions/batch/", {"modelId": "lead-onnx-v1", "features": rows},
                             format="json").json()["results"]
    expected = fitted.predict_proba(pd.DataFrame(rows, columns=COLUMNS))
    got = np.array([[r["prediction"]["probabilities"][c] for c in ("no", "yes")] for r in results])
    assert np.abs(got - expected).max() < 1e-5
    assert [r["prediction"]["class"] for r in results] == list(fitted.predict(pd.DataFrame(rows, columns=COLUMNS)))
    assert [r["confidence"] for r in results] == pytest.approx(list(expected.max(axis=1) * 100), abs=1e-3)
    assert {r["metadata"]["provider"] for r in results} == {"local"}
    artifact = ModelArtifact.objects.get(model_id="lead-onnx-v1")
    assert bytes(artifact.blob).endswith(data)


def test_it_explains_an_uploaded_model_with_exact_shapley_values(staff_api, pipeline):
    fitted, data = pipeline
    background = synthetic.leads(n=16, seed=3).rows
    register("lead-onnx-v2", config={"explanationBackground": background, "explanationOutput": "probabilities.yes"})
    assert upload(staff_api, "lead-onnx-v2", data).status_code == 201
    lead = synthetic.leads(n=1, seed=42).rows[0]
    response = staff_api.post("/api/v1/explanations/", {"modelId": "lead-onnx-v2", "features": lead}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    p_yes = fitted.predict_proba(pd.DataFrame([lead], columns=COLUMNS))[0][1]
    assert body["outputValue"] == pytest.approx(p_yes, abs=1e-5)
    base = fitted.predict_proba(pd.DataFrame(background, columns=COLUMNS))[:, 1].mean()
    assert body["baseValue"] == pytest.approx(base, abs=1e-5)
    assert body["baseValue"] + sum(c["shapValue"] for c in body["featureContributions"]) == pytest.approx(
        body["outputValue"], abs=1e-9)
    assert body["prediction"]["probabilities"]["yes"] == pytest.approx(p_yes, abs=1e-5)


def test_it_ab_tests_an_uploaded_model_against_a_built_in_one(staff_api, pipeline):
    _, data = pipeline
    register("lead-onnx-v3", ab_enabled=True, ab_traffic_percentage=50,
             ab_champion=MLModel.objects.get(pk="lead-scoring-v1"))
    assert upload(staff_api, "lead-onnx-v3", data).status_code == 201
    arms = {}
    for i, row in enumerate(synthetic.leads(n=40, seed=8).rows):
        body = staff_api.post("/api/v1/predictions/", {"modelId": "lead-onnx-v3", "features": row,
                                                        "context": {"objectId": f"L-{i}"}}, format="json").json()
        arms.setdefault(body["metadata"]["abTestArm"], set()).add(body["modelId"])
    assert arms == {"challenger": {"lead-onnx-v3"}, "champion": {"lead-scoring-v1"}}
    report = staff_api.get("/api/v1/models/lead-onnx-v3/ab-test/")
    assert report.status_code == 200, report.content


def test_it_proposes_a_schema_from_the_inputs_when_the_model_has_none(staff_api, pipeline):
    _, data = pipeline
    register("lead-onnx-bare", schema={})
    response = upload(staff_api, "lead-onnx-bare", data)
    assert response.status_code == 201, response.content
    assert response.json()["model"]["featureSchema"] == {"features": [
        {"name": "company_size", "type": "integer"}, {"name": "industry", "type": "string"},
        {"name": "engagement_score", "type": "number"}, {"name": "job_title", "type": "string"},
        {"name": "budget", "type": "number"}]}


class Trap:
    """Unpickling this creates the marker file: the proof that an upload was never unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_it_refuses_a_pickle_and_never_unpickles_it(staff_api, tmp_path):
    marker = tmp_path / "unpickled"
    register("lead-pickle-v1")
    response = upload(staff_api, "lead-pickle-v1", pickle.dumps(Trap(marker)), name="model.pkl")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_onnx"
    assert not marker.exists()
    assert not ModelArtifact.objects.filter(model_id="lead-pickle-v1").exists()


def test_it_refuses_inputs_that_differ_from_the_schema(staff_api, pipeline):
    _, data = pipeline
    register("churn-onnx-v1", schema={"features": [{"name": "account_age", "type": "integer"}]})
    response = upload(staff_api, "churn-onnx-v1", data)
    assert response.status_code == 400
    assert "company_size" in response.json()["error"]["message"]


@pytest.mark.parametrize(("change", "words"), [
    (lambda m: m.opset_import[1].__setattr__("version", 99) if m.opset_import[1].domain == "" else
     m.opset_import[0].__setattr__("version", 99), "opset 99"),
    (lambda m: m.opset_import.add(domain="com.example.custom", version=1), "com.example.custom"),
    (lambda m: _external(m.graph.initializer[0]), "stored outside the file"),
])
def test_it_refuses_what_onnxruntime_should_not_load(staff_api, pipeline, change, words):
    import onnx

    _, data = pipeline
    model = onnx.load_model_from_string(data)
    change(model)
    register("lead-onnx-bad")
    response = upload(staff_api, "lead-onnx-bad", model.SerializeToString())
    assert response.status_code == 400, response.content
    assert words in response.json()["error"]["message"]
    assert not ModelArtifact.objects.filter(model_id="lead-onnx-bad").exists()


def _external(tensor):
    import onnx

    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="/etc/passwd")


def test_it_refuses_a_file_over_the_limit_with_a_413(staff_api, pipeline, settings):
    settings.HOTCRM = {**settings.HOTCRM, "ONNX_MAX_BYTES": 1000}
    register("lead-onnx-big")
    response = upload(staff_api, "lead-onnx-big", pipeline[1])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "artifact_too_large"


def test_it_takes_uploads_for_local_models_from_staff_only(api, staff_api, pipeline):
    assert upload(api, "lead-scoring-v1", pipeline[1]).status_code == 403
    services.model_register(data={"id": "remote-v1", "name": "r", "version": "1", "type": "classification",
                                  "provider": "custom", "provider_config": {"endpoint": "http://127.0.0.1:9/x"}})
    response = upload(staff_api, "remote-v1", pipeline[1])
    assert response.status_code == 422 and response.json()["error"]["code"] == "artifact_not_supported"


def test_an_admin_uploads_an_onnx_file_on_the_models_page(client, pipeline):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("uploader", "u@example.com", "pw-upload-1")
    client.force_login(user)
    register("lead-onnx-admin")
    page = client.get("/admin/registry/mlmodel/lead-onnx-admin/change/")
    assert b"upload-artifact" in page.content
    url = "/admin/registry/mlmodel/lead-onnx-admin/upload-artifact/"
    assert client.get(url).status_code == 200
    refused = client.post(url, {"file": SimpleUploadedFile("x.onnx", b"not onnx")})
    assert refused.status_code == 200 and b"does not parse" in refused.content
    response = client.post(url, {"file": SimpleUploadedFile("model.onnx", pipeline[1])})
    assert response.status_code == 302, response.content[:500]
    assert ModelArtifact.objects.filter(model_id="lead-onnx-admin").exists()


def test_it_scores_a_whole_batch_in_one_onnxruntime_run(staff_api, pipeline):
    from predictions.providers import provider_for

    register("lead-onnx-runs")
    assert upload(staff_api, "lead-onnx-runs", pipeline[1]).status_code == 201
    model = MLModel.objects.get(pk="lead-onnx-runs")
    predictor = provider_for(model).predictor(model)
    session, calls = predictor.session, []

    class Counting:
        def run(self, *args, **kwargs):
            calls.append(len(next(iter(args[1].values()))))
            return session.run(*args, **kwargs)

    predictor.session = Counting()
    rows = synthetic.leads(n=300, seed=5).rows
    response = staff_api.post("/api/v1/predictions/batch/", {"modelId": "lead-onnx-runs", "features": rows},
                              format="json")
    assert response.status_code == 200, response.content
    assert calls == [300]


def test_it_serves_a_regressor_taking_one_matrix_input_and_explains_it(staff_api):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(4)
    x = rng.uniform(0, 100, (200, 3))
    fitted = LinearRegression().fit(x, x @ [2.0, -1.0, 0.5] + 7)
    data = to_onnx(fitted, x[:1].astype(np.float32)).SerializeToString()
    schema = {"features": [{"name": n, "type": "number"} for n in ("deals", "calls", "emails")]}
    background = [{"deals": 10.0, "calls": 20.0, "emails": 30.0}]
    services.model_register(data={
        "id": "revenue-onnx-v1", "name": "r", "version": "1", "type": "regression", "provider": "local",
        "feature_schema": schema, "provider_config": {"config": {"explanationBackground": background}}})
    response = upload(staff_api, "revenue-onnx-v1", data)
    assert response.status_code == 201, response.content
    assert response.json()["artifact"]["kind"] == "regressor"
    rows = [{"deals": 50.0, "calls": 10.0, "emails": 4.0}, {"deals": 1.0, "calls": 99.0, "emails": 60.0}]
    results = staff_api.post("/api/v1/predictions/batch/", {"modelId": "revenue-onnx-v1", "features": rows},
                             format="json").json()["results"]
    expected = fitted.predict(np.array([[r["deals"], r["calls"], r["emails"]] for r in rows]))
    assert [r["prediction"]["value"] for r in results] == pytest.approx(list(expected), rel=1e-5)
    assert [r["confidence"] for r in results] == [None, None]
    body = staff_api.post("/api/v1/explanations/", {"modelId": "revenue-onnx-v1", "features": rows[0]},
                          format="json").json()
    # Linear: each feature's Shapley value is its weight times its change from the background.
    shap = {c["feature"]: c["shapValue"] for c in body["featureContributions"]}
    assert shap == pytest.approx({"deals": 2.0 * 40, "calls": -1.0 * -10, "emails": 0.5 * -26}, rel=1e-4)
