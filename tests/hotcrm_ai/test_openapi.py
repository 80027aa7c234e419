from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


def api_routes(patterns=None, prefix: str = "") -> set[str]:
    """Every route under /api/v1/, as OpenAPI writes it."""
    import re

    out: set[str] = set()
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            out |= api_routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/v1/"):
            out.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return out


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_it_is_a_valid_openapi_3_document(schema):
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_it_describes_every_api_route(schema):
    assert api_routes() <= set(schema["paths"])


def test_it_documents_token_auth_and_errors_on_every_operation(schema):
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["TokenAuth"]["description"],
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert {"TokenAuth": []} in operation["security"], (method, path)
            for status in ("401", "403", "429"):
                content = operation["responses"][status]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Error"}, (method, path, status)
            if "requestBody" in operation:
                assert "400" in operation["responses"], (method, path)
            assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_it_describes_the_paginated_model_list(schema):
    ok = schema["paths"]["/api/v1/models/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[-1]]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])


def test_it_never_offers_credentials_in_a_model_response(schema):
    schemas = schema["components"]["schemas"]
    assert "credentials" not in schemas["ProviderConfig"]["properties"]
    assert "credentialsSet" in schemas["ProviderConfig"]["properties"]
    assert schemas["ProviderConfigRequest"]["properties"]["credentials"]["writeOnly"] is True


def test_it_serves_the_schema_to_a_token_holder_only(api, client):
    assert client.get("/api/schema/").status_code == 401
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert "/api/v1/predictions/" in response.json()["paths"]


def test_it_serves_the_interactive_docs_after_a_login(client, django_user_model):
    response = client.get("/api/docs/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    developer = django_user_model.objects.create_user("dev", password="long enough pw 123")
    client.force_login(developer)
    assert client.get("/api/docs/").status_code == 403  # a login alone is not enough
    developer.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(django_user_model.objects.get(pk=developer.pk))  # permissions are cached per object
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.parametrize(("path", "method"), [
    ("/api/v1/alerts/channels/", "post"), ("/api/v1/alerts/channels/{channel_id}/", "patch"),
    ("/api/v1/alerts/rules/", "post"), ("/api/v1/alerts/rules/{rule_id}/", "patch"),
])
def test_it_documents_the_409_of_a_channel_or_rule_name_already_taken(schema, path, method):
    # Found by schemathesis: the API answered 409 name_taken where the schema promised none.
    assert "409" in schema["paths"][path][method]["responses"]
