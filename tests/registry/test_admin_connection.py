"""The admin's "test connection": a real health check of the model's provider, with its
result and latency shown; credentials stay masked."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.predictions.providers.conftest import register
from tests.predictions.providers.servers import LocalServer, Reply

pytestmark = pytest.mark.django_db
SECRET = "sk-admin-test-9c1d2e3f4a5b"


def deal(request):
    """KServe V1: readiness on GET, a score per instance on POST (the check scores an example)."""
    if request.method == "GET":
        return Reply(200, {"name": "deal", "ready": True})
    return Reply(200, {"predictions": [{"score": 1.0} for _ in request.json()["instances"]]})


@pytest.fixture
def kserve():
    server = LocalServer(deal)
    yield server
    server.close()


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-admin-123")
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_it_tests_the_connection_of_selected_models_and_shows_the_latency(admin_client, kserve):
    register("deal-v1", "custom", endpoint=f"{kserve.url}/v1/models/deal:predict", credentials={"apiKey": SECRET})
    response = admin_client.post("/admin/registry/mlmodel/", {
        "action": "test_connection", "_selected_action": ["deal-v1", "lead-scoring-v1"]}, follow=True)
    shown = messages_of(response)
    assert any(m.startswith("deal-v1 (custom): connection OK in ") and " ms" in m for m in shown), shown
    assert any(m.startswith("lead-scoring-v1 (local): connection OK") for m in shown), shown
    assert kserve.requests[0].path == "/v1/models/deal"
    assert SECRET not in response.content.decode()


def test_its_button_on_the_model_page_reports_a_failure(admin_client, kserve):
    register("deal-v1", "custom", endpoint=f"{kserve.url}/v1/models/deal:predict", credentials={"apiKey": SECRET})
    page = admin_client.get("/admin/registry/mlmodel/deal-v1/change/")
    assert b"Test connection" in page.content
    assert SECRET not in page.content.decode()  # the key inputs are always empty
    kserve.queue(Reply(503, {"error": f"down, key {SECRET}"}))
    response = admin_client.post("/admin/registry/mlmodel/deal-v1/test-connection/", follow=True)
    [message] = messages_of(response)
    assert message.startswith("deal-v1 (custom): connection FAILED in ") and "HTTP 503" in message
    assert SECRET not in response.content.decode()


def test_only_a_post_tests_the_connection(admin_client):
    assert admin_client.get("/admin/registry/mlmodel/lead-scoring-v1/test-connection/").status_code == 405


def test_a_key_typed_into_the_admin_is_stored_encrypted_masked_and_used(admin_client, kserve, monkeypatch):
    import json

    from registry.models import MLModel

    response = admin_client.post("/admin/registry/mlmodel/add/", {
        "id": "deal-admin-v1", "name": "Deal", "version": "1", "type": "regression", "status": "active",
        "provider": "custom", "cache_ttl": 0, "ab_mode": "split", "ab_traffic_percentage": 0,
        "provider_config": json.dumps({"endpoint": f"{kserve.url}/v1/models/deal:predict", "config": {}}),
        "feature_schema": json.dumps({"features": [{"name": "amount", "type": "number"}]}),
        "health_thresholds": "{}", "api_key": SECRET, "secret_access_key_env": "HOTCRM_PROVIDER_DEAL_SECRET",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = MLModel.objects.get(pk="deal-admin-v1")
    assert SECRET not in stored.credentials_encrypted and stored.credentials_encrypted
    page = admin_client.get("/admin/registry/mlmodel/deal-admin-v1/change/").content.decode()
    assert SECRET not in page and "Set (hidden)" in page and "HOTCRM_PROVIDER_DEAL_SECRET" in page
    failed = admin_client.post("/admin/registry/mlmodel/deal-admin-v1/test-connection/", follow=True)
    assert "credentials.secretAccessKeyEnv" in messages_of(failed)[0] and kserve.requests == []  # unset
    monkeypatch.setenv("HOTCRM_PROVIDER_DEAL_SECRET", "unused-by-custom")
    admin_client.post("/admin/registry/mlmodel/deal-admin-v1/test-connection/")
    assert kserve.requests[-1].headers["authorization"] == f"Bearer {SECRET}"
