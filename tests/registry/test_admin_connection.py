"""The admin's "test connection": a real health check of the model's provider, with its
result and latency shown; credentials stay masked."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.predictions.providers.conftest import register
from tests.predictions.providers.servers import LocalServer, Reply

pytestmark = pytest.mark.django_db
SECRET = "sk-admin-test-9c1d2e3f4a5b"


@pytest.fixture
def kserve():
    server = LocalServer(lambda request: Reply(200, {"name": "deal", "ready": True}))
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
