"""Environment variables are not an API: `credentials.*Env` may name only variables with the
configured prefix, and no answer says whether a variable exists."""

from __future__ import annotations

import json

import pytest

from tests.predictions.providers.conftest import predict, register
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db
ROW = {"amount": 120, "segment": "enterprise"}


def _register(staff_api, server, variable):
    return staff_api.post("/api/v1/models/", {
        "id": "env-steal-v1", "name": "x", "version": "1", "type": "regression", "provider": "custom",
        "providerConfig": {"endpoint": f"{server.url}/score", "credentials": {"apiKeyEnv": variable}},
        "featureSchema": {"features": [{"name": "amount", "type": "number"}]},
    }, format="json")


def test_it_refuses_a_credential_naming_a_server_variable_without_saying_if_it_exists(
        staff_api, server, monkeypatch):
    monkeypatch.setenv("DATABASE_URL_FOR_THIS_TEST", "postgres://user:pw@db/x")
    existing = _register(staff_api, server, "DATABASE_URL_FOR_THIS_TEST")
    missing = _register(staff_api, server, "NO_SUCH_VARIABLE_ANYWHERE")
    secret_key = _register(staff_api, server, "SECRET_KEY")
    for response in (existing, missing, secret_key):
        assert response.status_code == 400, response.content
        assert "HOTCRM_PROVIDER_" in response.json()["error"]["message"]
    assert existing.json()["error"]["message"] == missing.json()["error"]["message"]
    assert _register(staff_api, server, "HOTCRM_PROVIDER_DEAL_KEY").status_code == 201


def test_it_never_sends_a_variable_outside_the_prefix_stored_before_the_rule(api, server, monkeypatch):
    monkeypatch.setenv("HOTCRM_TEST_DB_PASSWORD", "db-password-123")
    server.handle = lambda request: Reply(200, {"predictions": [{"score": 1}]})
    # Written past the API's check, as a row stored before the rule existed would be.
    register("old-env-v1", "custom", endpoint=f"{server.url}/score",
             credentials={"apiKeyEnv": "HOTCRM_TEST_DB_PASSWORD"})
    register("unset-env-v1", "custom", endpoint=f"{server.url}/score",
             credentials={"apiKeyEnv": "HOTCRM_PROVIDER_UNSET_FOR_TEST"})
    stolen = predict(api, "old-env-v1", ROW)
    unset = predict(api, "unset-env-v1", ROW)
    assert stolen.status_code == 502 and server.requests == []
    assert "db-password-123" not in json.dumps(stolen.json())
    # An allowed-but-unset variable reads the same as a forbidden one that exists.
    assert (stolen.json()["error"]["message"].replace("old-env-v1", "M")
            == unset.json()["error"]["message"].replace("unset-env-v1", "M"))


def test_it_honours_a_configured_prefix(staff_api, server, settings, monkeypatch):
    monkeypatch.setitem(settings.HOTCRM, "PROVIDER_ENV_PREFIX", "ACME_ML_")
    assert _register(staff_api, server, "HOTCRM_PROVIDER_DEAL_KEY").status_code == 400
    assert _register(staff_api, server, "ACME_ML_DEAL_KEY").status_code == 201


def test_the_admin_refuses_a_server_variable_too(admin_client, server):
    response = admin_client.post("/admin/registry/mlmodel/add/", {
        "id": "env-admin-v1", "name": "x", "version": "1", "type": "regression", "status": "active",
        "provider": "custom", "cache_ttl": 0, "ab_mode": "split", "ab_traffic_percentage": 0,
        "provider_config": json.dumps({"endpoint": f"{server.url}/score", "config": {}}),
        "feature_schema": json.dumps({"features": [{"name": "amount", "type": "number"}]}),
        "health_thresholds": "{}", "api_key_env": "SECRET_KEY",
    })
    assert response.status_code == 200  # the form again, with the error
    assert "HOTCRM_PROVIDER_" in response.content.decode()
    from registry.models import MLModel

    assert not MLModel.objects.filter(pk="env-admin-v1").exists()
