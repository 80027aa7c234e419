"""Registration checks what calls will need: a model that could only ever answer 502
`misconfigured`, or whose schema breaks every request, is refused with a 400 naming the field."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db
SCHEMA = {"features": [{"name": "text", "type": "text"}]}


def _register(staff_api, **fields):
    body = {"id": "needs-v1", "name": "x", "version": "1", "type": "nlp", "featureSchema": SCHEMA, **fields}
    return staff_api.post("/api/v1/models/", body, format="json")


@pytest.mark.parametrize("fields, named", [
    ({"provider": "openai", "providerConfig": {"config": {"model": "gpt-4o-mini"}}},
     "providerConfig.credentials.apiKey"),
    ({"provider": "azure-ml", "providerConfig": {"endpoint": "https://x.westeurope.inference.ml.azure.com/score"}},
     "providerConfig.credentials.apiKey"),
    ({"provider": "aws-sagemaker", "providerConfig": {"config": {"endpointName": "e"},
                                                      "credentials": {"accessKeyId": "AKIA1", "region": "eu-west-1"}}},
     "secretAccessKey"),
    ({"provider": "aws-sagemaker", "providerConfig": {"config": {"endpointName": "e"}}},
     "providerConfig.credentials.region"),
    ({"featureSchema": {"features": [{"name": "text", "type": "text", "maxLength": "abc"}]}}, "maxLength"),
    ({"featureSchema": {"features": [{"name": "n", "type": "integer", "default": "many"}]}}, "default"),
    ({"featureSchema": {"features": [{"name": "t", "type": "string_list", "maxItems": -1}]}}, "maxItems"),
])
def test_it_refuses_a_model_its_calls_could_never_serve(staff_api, api, settings, monkeypatch, fields, named):
    monkeypatch.setitem(settings.HOTCRM, "PROVIDER_ALLOWED_HOSTS", ["*"])
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    response = _register(staff_api, **fields)
    assert response.status_code == 400, response.content
    assert named in response.json()["error"]["message"]
    assert api.get("/api/v1/models/needs-v1/").status_code == 404


def test_it_refuses_removing_the_key_a_provider_needs(staff_api):
    created = _register(staff_api, provider="openai",
                        providerConfig={"credentials": {"apiKey": "sk-123456"}, "config": {"model": "m"}})
    assert created.status_code == 201, created.content
    cleared = staff_api.patch("/api/v1/models/needs-v1/", {"providerConfig": {"credentials": {}}}, format="json")
    assert cleared.status_code == 400
    assert "providerConfig.credentials.apiKey" in cleared.json()["error"]["message"]
