"""A Python client generated from /api/schema/ with openapi-python-client (offline) gets
typed results, not dicts, for predict, batch, explain and stats, against the real app."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from tests.monitoring.support import CHURN

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
PACKAGE = "hotcrm_client"


@pytest.fixture
def client_package(api, tmp_path):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    (tmp_path / "schema.json").write_text(json.dumps(response.json()))
    (tmp_path / "config.yaml").write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(
        [generator, "generate", "--path", tmp_path / "schema.json", "--meta", "none",
         "--output-path", tmp_path / PACKAGE, "--config", tmp_path / "config.yaml"],
        check=True, capture_output=True, text=True, timeout=120,
    )
    # Only the Open Inference Protocol endpoints (/v2/, JSON under any content type, for
    # KServe/Triton clients) are beyond this generator; every /api/v1/ operation is generated.
    skipped = [line for line in done.stdout.splitlines() if line.startswith("WARNING parsing")]
    assert all(" /v2/" in line for line in skipped), skipped
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def client(client_package, service_token):
    # Requests go straight into this process's Django app and its test database, whose
    # connection must outlive each request (as Django's own test client arranges).
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    try:
        yield client_package("client").AuthenticatedClient(
            base_url="http://testserver", token=service_token, prefix="Token",
            httpx_args={"transport": httpx.WSGITransport(app=WSGIHandler())},
        )
    finally:
        for signal in signals:
            signal.connect(close_old_connections)


def test_it_gets_typed_results_for_predict_batch_explain_and_stats(client_package, client):
    models = client_package("models")
    api = {name: client_package(f"api.{tag}.{name}") for tag, name in [
        ("predictions", "predictions_create"), ("predictions", "predictions_batch_create"),
        ("explanations", "explanations_create"), ("models", "model_stats_retrieve"),
    ]}

    one = api["predictions_create"].sync(client=client, body=models.PredictionRequest.from_dict(
        {"modelId": "churn-prediction-v1", "features": CHURN}))
    assert isinstance(one, models.PredictionResponse)
    assert one.model_id == "churn-prediction-v1" and isinstance(one.processing_time, float)
    assert isinstance(one.metadata, models.PredictionMetadata) and one.metadata.provider == "local"

    batch = api["predictions_batch_create"].sync(client=client, body=models.BatchRequest.from_dict(
        {"modelId": "churn-prediction-v1", "features": [CHURN, CHURN | {"nps_score": -50}]}))
    assert isinstance(batch, models.BatchResponse)
    assert [type(r) for r in batch.results] == [models.PredictionResponse] * 2

    explained = api["explanations_create"].sync(client=client, body=models.ExplanationRequest.from_dict(
        {"modelId": "churn-prediction-v1", "features": CHURN}))
    assert isinstance(explained, models.ExplanationResponse)
    assert all(isinstance(c, models.FeatureContribution) for c in explained.feature_contributions)
    assert {c.feature for c in explained.feature_contributions} <= set(CHURN)

    stats = api["model_stats_retrieve"].sync("churn-prediction-v1", client=client)
    assert isinstance(stats, models.PerformanceStats)
    assert stats.total_predictions == 3 and stats.failed_predictions == 0
    assert isinstance(stats.p_95_latency, float) and isinstance(stats.last_updated, datetime)
