from __future__ import annotations

import pytest

from registry import services
from registry.models import MLModel
from tests.predictions.providers.servers import LocalServer

SCHEMA = {"features": [
    {"name": "amount", "type": "number", "min": 0, "max": 1000},
    {"name": "segment", "type": "category", "categories": ["smb", "enterprise"]},
]}
# Short timeouts and backoff keep failure tests fast.
FAST = {"timeout": 0.5, "retries": 2, "backoff": 0.01, "maxBackoff": 0.05}


@pytest.fixture(scope="module")
def local_server():
    server = LocalServer()
    yield server
    server.close()


@pytest.fixture
def server(local_server):
    local_server.reset()
    yield local_server
    local_server.reset()


def register(model_id: str, provider: str, *, endpoint: str = "", config: dict | None = None,
             credentials: dict | None = None, type: str = "regression", schema: dict | None = None,
             **fields) -> MLModel:
    return services.model_register(data={
        "id": model_id, "name": model_id, "version": "1.0.0", "type": type, "provider": provider,
        "provider_config": {"endpoint": endpoint, "config": {**FAST, **(config or {})}},
        "feature_schema": SCHEMA if schema is None else schema, "cache_ttl": 0, **fields,
    }, credentials=credentials)


def predict(api, model_id, features, **extra):
    return api.post("/api/v1/predictions/", {"modelId": model_id, "features": features, **extra}, format="json")


def predict_batch(api, model_id, rows):
    return api.post("/api/v1/predictions/batch/", {"modelId": model_id, "features": rows}, format="json")
