"""Secrets outside `credentials` are secrets too: an endpoint's user info or key in its query,
credential headers in `config.headers`. Never returned, never audited, never logged, and
redacted before anything is cut short."""

from __future__ import annotations

import json
import logging

import pytest

from predictions.providers import health_check
from registry.models import MLModel, RegistryChange
from tests.predictions.providers.conftest import predict, register
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db
QUERY_KEY = "q-key-0123456789abcdef"
HEADER_KEY = "h-key-fedcba9876543210"
ROW = {"amount": 120, "segment": "enterprise"}


def test_it_never_returns_or_audits_a_key_in_the_endpoint_query(staff_api, api, server):
    server.handle = lambda request: Reply(200, {"predictions": [{"score": 1}]})
    created = staff_api.post("/api/v1/models/", {
        "id": "query-key-v1", "name": "x", "version": "1", "type": "regression", "provider": "custom",
        "providerConfig": {"endpoint": f"{server.url}/score?code={QUERY_KEY}&v=2"},
        "featureSchema": {"features": [{"name": "amount", "type": "number"}]},
    }, format="json")
    assert created.status_code == 201, created.content
    changed = staff_api.patch("/api/v1/models/query-key-v1/", {
        "providerConfig": {"endpoint": f"{server.url}/score?code={QUERY_KEY}2&v=3"}}, format="json")
    seen = [created.content, changed.content, api.get("/api/v1/models/query-key-v1/").content,
            api.get("/api/v1/models/").content, staff_api.get("/api/v1/models/query-key-v1/changes/").content,
            json.dumps(list(RegistryChange.objects.values_list("old_value", "new_value"))).encode()]
    assert all(QUERY_KEY.encode() not in text for text in seen)
    assert "code=***" in api.get("/api/v1/models/query-key-v1/").json()["providerConfig"]["endpoint"]
    assert predict(api, "query-key-v1", {"amount": 1}).status_code == 200
    assert f"code={QUERY_KEY}2" in server.requests[-1].path  # still used for the call itself


def test_it_refuses_user_info_and_credential_headers_in_the_config(staff_api, server):
    for provider_config in ({"endpoint": f"http://user:{QUERY_KEY}@127.0.0.1:9/score"},
                            {"endpoint": f"{server.url}/score", "config": {"headers": {"X-Api-Key": HEADER_KEY}}},
                            {"endpoint": f"{server.url}/score", "config": {"headers": {"Authorization": HEADER_KEY}}}):
        response = staff_api.post("/api/v1/models/", {
            "id": "header-key-v1", "name": "x", "version": "1", "type": "regression", "provider": "custom",
            "providerConfig": provider_config, "featureSchema": {"features": [{"name": "amount", "type": "number"}]},
        }, format="json")
        assert response.status_code == 400, response.content
        assert QUERY_KEY not in response.content.decode() and HEADER_KEY not in response.content.decode()


def test_it_redacts_a_credential_header_stored_before_the_rule(api, server, caplog):
    caplog.set_level(logging.DEBUG)
    server.handle = lambda request: Reply(500, {"error": f"bad header {request.headers.get('x-api-key')}"})
    register("legacy-header-v1", "custom", endpoint=f"{server.url}/score")
    MLModel.objects.filter(pk="legacy-header-v1").update(provider_config={
        "endpoint": f"{server.url}/score", "config": {"retries": 0, "headers": {"X-Api-Key": HEADER_KEY}}})
    response = predict(api, "legacy-header-v1", ROW)
    listing = api.get("/api/v1/models/legacy-header-v1/")
    assert response.status_code == 502
    assert listing.json()["providerConfig"]["config"]["headers"] == {"X-Api-Key": "***"}
    assert HEADER_KEY not in response.content.decode() + listing.content.decode() + caplog.text


def test_it_redacts_before_it_cuts_a_health_message_short(server):
    """A key echoed past the 80th character: cutting first would leave its prefix readable."""
    secret = "sk-echoed-0123456789abcdefghij"
    server.handle = lambda request: Reply(200, {"predictions": [{"score": 1, "note": "x" * 70 + secret}]})
    model = register("echo-v1", "custom", endpoint=f"{server.url}/score", credentials={"apiKey": secret})
    result = health_check(model)
    assert result.ok, result.detail
    assert secret[:6] not in result.detail and "***" in result.detail
