"""No lost updates: the model's revision is its ETag; a write with a stale If-Match is a 412,
and writes of different fields never undo each other, however they interleave."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from registry import services
from registry.crypto import decrypt_credentials
from registry.models import MLModel, RegistryChange
from tests.predictions.providers.conftest import register

# Real transactions: the concurrent test needs its threads' writes to commit.
pytestmark = pytest.mark.django_db(transaction=True)


def _model(model_id):
    """Its own model: a transactional test starts from an emptied database."""
    return register(model_id, "custom", endpoint="http://127.0.0.1:9/score")


def test_it_answers_412_to_a_write_from_a_stale_read(staff_api):
    _model("stale-v1")
    read = staff_api.get("/api/v1/models/stale-v1/")
    etag = read.headers["ETag"]
    first = staff_api.patch("/api/v1/models/stale-v1/", {"description": "first"},
                            format="json", HTTP_IF_MATCH=etag)
    assert first.status_code == 200 and first.headers["ETag"] != etag
    second = staff_api.patch("/api/v1/models/stale-v1/", {"description": "second"},
                             format="json", HTTP_IF_MATCH=etag)
    assert second.status_code == 412, second.content
    assert second.json()["error"]["code"] == "precondition_failed"
    assert MLModel.objects.get(pk="stale-v1").description == "first"
    assert staff_api.delete("/api/v1/models/stale-v1/", HTTP_IF_MATCH=etag).status_code == 412
    assert staff_api.patch("/api/v1/models/stale-v1/", {"description": "third"}, format="json",
                           HTTP_IF_MATCH=first.headers["ETag"]).status_code == 200


def test_an_edit_read_before_a_credential_rotation_does_not_revert_it():
    """The lost update of the issue: both answered 200 and the old key came back."""
    model = register("rotated-v1", "custom", endpoint="http://127.0.0.1:9/score", credentials={"apiKey": "old-key-123"})
    stale = MLModel.objects.get(pk=model.pk)  # an admin opens the page
    services.model_update(model=MLModel.objects.get(pk=model.pk), data={}, credentials={"apiKey": "new-key-456"})
    services.model_update(model=stale, data={"description": "edited from the stale page"})
    stored = MLModel.objects.get(pk=model.pk)
    assert decrypt_credentials(stored.credentials_encrypted) == {"apiKey": "new-key-456"}
    assert stored.description == "edited from the stale page"


@pytest.mark.skipif(connection.vendor == "sqlite",
                    reason="the in-memory SQLite test database cannot hold two writers at once")
def test_concurrent_patches_of_different_fields_both_stay(staff_api, service_token):
    from rest_framework.test import APIClient

    from apiauth.services import token_create

    _, other_key = token_create(name="staff-2", is_staff=True)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
    _model("concurrent-v1")
    barrier = threading.Barrier(2)
    results = {}

    def patch(name, client, body):
        barrier.wait()
        try:
            results[name] = client.patch("/api/v1/models/concurrent-v1/", body, format="json").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=patch, args=("a", staff_api, {"description": "from a"})),
               threading.Thread(target=patch, args=("b", other, {"cacheTtl": 42}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {"a": 200, "b": 200}
    stored = MLModel.objects.get(pk="concurrent-v1")
    assert (stored.description, stored.cache_ttl) == ("from a", 42)
    trail = RegistryChange.objects.filter(model_id="concurrent-v1")
    assert {c.field for c in trail} >= {"description", "cache_ttl"}


def test_a_patch_of_credentials_alone_keeps_the_endpoint(staff_api):
    register("partial-v1", "custom", endpoint="http://127.0.0.1:9/score", credentials={"apiKey": "k-123456"})
    response = staff_api.patch("/api/v1/models/partial-v1/", {"providerConfig": {"credentials": {"apiKey": "k-654321"}}},
                               format="json")
    assert response.status_code == 200, response.content
    assert MLModel.objects.get(pk="partial-v1").provider_config["endpoint"] == "http://127.0.0.1:9/score"
