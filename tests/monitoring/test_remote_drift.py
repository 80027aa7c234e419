"""Drift of remote models: their logged inputs against a reference sample an admin uploads
(POST /models/{id}/drift-reference/, JSON rows or a CSV file) or, without one, against
providerConfig.config.explanationBackground, with the tests local models get."""

from __future__ import annotations

import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from monitoring.drift import model_drift
from monitoring.models import DriftReference
from registry.models import MLModel
from tests.predictions.providers.conftest import predict_batch, register
from tests.predictions.providers.test_custom import kserve

pytestmark = pytest.mark.django_db
URL = "/api/v1/models/{}/drift-reference/"


def usual_deals(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [{"amount": round(rng.uniform(10, 200), 2), "segment": "smb" if rng.random() < 0.8 else "enterprise"}
            for _ in range(n)]


def unusual_deals(n: int, seed: int = 2) -> list[dict]:
    rng = random.Random(seed)
    return [{"amount": round(rng.uniform(700, 1000), 2), "segment": "enterprise"} for _ in range(n)]


@pytest.fixture
def deal(server):
    server.handle = kserve
    return register("deal-drift", "custom", endpoint=f"{server.url}/v1/models/deal:predict")


def as_csv(rows: list[dict]) -> bytes:
    return ("amount,segment\n" + "".join(f"{r['amount']},{r['segment']}\n" for r in rows)).encode()


def test_it_detects_drift_of_a_remote_model_against_an_uploaded_reference(api, staff_api, deal):
    response = staff_api.post(URL.format("deal-drift"), {"rows": usual_deals(300)}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["rows"] == 300 and response.json()["features"] == ["amount", "segment"]

    assert predict_batch(api, "deal-drift", unusual_deals(60)).status_code == 200
    health = api.get("/api/v1/models/deal-drift/health/").json()
    assert health["status"] == "degraded"
    assert set(health["details"]["driftingFeatures"]) == {"amount", "segment"}
    assert "compared with the uploaded reference sample" in health["reason"]
    drift = model_drift(MLModel.objects.get(pk="deal-drift"))
    assert drift["referenceSource"] == "upload" and drift["referenceSize"] == 300 and drift["sampleSize"] == 60
    tests = {f["feature"]: f["test"] for f in drift["features"]}
    assert tests == {"amount": "ks", "segment": "chi2"}


def test_it_finds_no_drift_in_inputs_like_the_reference(api, staff_api, deal):
    staff_api.post(URL.format("deal-drift"), {"rows": usual_deals(300)}, format="json")
    assert predict_batch(api, "deal-drift", usual_deals(80, seed=7)).status_code == 200
    drift = model_drift(MLModel.objects.get(pk="deal-drift"))
    assert drift["available"] and drift["drifting"] == []
    assert api.get("/api/v1/models/deal-drift/health/").json()["status"] == "healthy"


def test_it_takes_a_csv_file_as_the_reference(api, staff_api, deal):
    upload = SimpleUploadedFile("reference.csv", as_csv(usual_deals(200)), content_type="text/csv")
    response = staff_api.post(URL.format("deal-drift"), {"file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rows"] == 200 and body["format"] == "csv" and body["uploadedBy"]
    stored = DriftReference.objects.get(model_id="deal-drift").rows
    assert stored[:3] == [{"amount": r["amount"], "segment": r["segment"]} for r in usual_deals(3)]
    assert api.get(URL.format("deal-drift")).json()["rows"] == 200

    assert predict_batch(api, "deal-drift", unusual_deals(60)).status_code == 200
    assert "amount" in model_drift(MLModel.objects.get(pk="deal-drift"))["drifting"]


def test_it_compares_with_the_explanation_background_without_an_upload(api, server):
    server.handle = kserve
    register("deal-background", "custom", endpoint=f"{server.url}/v1/models/deal:predict",
             config={"explanationBackground": usual_deals(100)})
    assert predict_batch(api, "deal-background", unusual_deals(60)).status_code == 200
    drift = model_drift(MLModel.objects.get(pk="deal-background"))
    assert drift["referenceSource"] == "explanationBackground" and drift["referenceSize"] == 100
    assert set(drift["drifting"]) == {"amount", "segment"}


def test_it_says_what_a_remote_model_without_a_reference_needs(deal):
    drift = model_drift(deal)
    assert not drift["available"] and "drift-reference" in drift["reason"]


def test_it_lets_only_staff_upload_or_delete_a_reference(api, staff_api, deal):
    assert api.post(URL.format("deal-drift"), {"rows": usual_deals(30)}, format="json").status_code == 403
    assert not DriftReference.objects.exists()
    assert staff_api.post(URL.format("deal-drift"), {"rows": usual_deals(30)}, format="json").status_code == 201
    assert api.delete(URL.format("deal-drift")).status_code == 403
    assert staff_api.delete(URL.format("deal-drift")).status_code == 204
    assert staff_api.delete(URL.format("deal-drift")).status_code == 404
    assert api.get(URL.format("deal-drift")).status_code == 404


@pytest.mark.parametrize(("body", "code"), [
    ({"rows": [{"amount": "lots", "segment": "smb"}] * 30}, "invalid_type"),
    ({"rows": [{"amount": 5, "segment": "smb", "colour": "red"}] * 30}, "unknown_feature"),
    ({"rows": [{"amount": 5000, "segment": "smb"}] * 30}, "out_of_range"),
    ({"rows": [{"amount": 5, "segment": "smb"}] * 3}, "invalid_reference"),
    ({"rows": "not a list"}, "invalid_reference"),
    ({"rows": [1, 2, 3] * 10}, "invalid_features"),
    ({"reference": []}, "invalid_reference"),
    ({"rows": [{"amount": 5, "segment": "smb\u0000"}] * 30}, "invalid_text"),
])
def test_it_refuses_rows_that_do_not_fit_the_schema_and_stores_nothing(staff_api, deal, body, code):
    response = staff_api.post(URL.format("deal-drift"), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not DriftReference.objects.exists()


@pytest.mark.parametrize(("data", "code"), [
    (b"amount,segment\n" + b"5,smb\n" * 10 + b"5,sm\x00b\n" + b"5,smb\n" * 20, "invalid_text"),
    (b"amount,segment\n" + b"5,\xffsmb\n" * 30, "invalid_csv"),
    (b"amount,segment\n" + b"5,smb,extra\n" * 30, "invalid_csv"),
    (b"", "invalid_csv"),
    (b"amount,segment\n" + b"1e999,smb\n" * 30, "invalid_value"),
    (b"amount,segment\n" + b"12,giant\n" * 30, "invalid_value"),
])
def test_it_refuses_a_bad_csv_file_with_a_400(staff_api, deal, data, code):
    upload = SimpleUploadedFile("reference.csv", data, content_type="text/csv")
    response = staff_api.post(URL.format("deal-drift"), {"file": upload}, format="multipart")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    assert not DriftReference.objects.exists()


def test_it_refuses_a_reference_over_the_limits_with_a_413(staff_api, deal, settings):
    settings.HOTCRM = {**settings.HOTCRM, "DRIFT_REFERENCE_MAX_ROWS": 50, "DRIFT_REFERENCE_MAX_BYTES": 1000}
    response = staff_api.post(URL.format("deal-drift"), {"rows": usual_deals(51)}, format="json")
    assert response.status_code == 413 and response.json()["error"]["code"] == "reference_too_large"
    upload = SimpleUploadedFile("reference.csv", as_csv(usual_deals(200)), content_type="text/csv")
    response = staff_api.post(URL.format("deal-drift"), {"file": upload}, format="multipart")
    assert response.status_code == 413 and response.json()["error"]["code"] == "reference_too_large"
    assert not DriftReference.objects.exists()


def test_it_answers_404_for_an_unknown_model_and_422_for_one_without_a_schema(staff_api, server):
    assert staff_api.post(URL.format("nope"), {"rows": usual_deals(30)}, format="json").status_code == 404
    register("deal-schemaless", "custom", endpoint=f"{server.url}/v1/models/deal:predict", schema={})
    response = staff_api.post(URL.format("deal-schemaless"), {"rows": usual_deals(30)}, format="json")
    assert response.status_code == 422 and response.json()["error"]["code"] == "no_feature_schema"


def test_it_lets_an_admin_upload_a_reference_csv(admin_client, deal):
    upload = SimpleUploadedFile("reference.csv", as_csv(usual_deals(40)), content_type="text/csv")
    response = admin_client.post("/admin/monitoring/driftreference/add/", {"model": "deal-drift", "file": upload})
    assert response.status_code == 302, response.content.decode()[:2000]
    reference = DriftReference.objects.get(model_id="deal-drift")
    assert reference.row_count == 40 and reference.source == "csv" and reference.uploaded_by == "admin"

    bad = SimpleUploadedFile("reference.csv", b"amount,segment\n" + b"lots,smb\n" * 30, content_type="text/csv")
    response = admin_client.post("/admin/monitoring/driftreference/add/", {"model": "deal-drift", "file": bad})
    assert response.status_code == 200 and "must be a number" in response.content.decode()
    assert DriftReference.objects.get(model_id="deal-drift").row_count == 40
