"""The admin never shows a provider config's secrets (key-like query values of its URLs; user
info and credential headers are refused at registration, and redacted alike) to anyone,
view-only users and superusers alike; saving the page keeps them, and an edit cannot carry
them to another host."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from registry.models import MLModel
from tests.predictions.providers.conftest import register

pytestmark = pytest.mark.django_db
QUERY_KEY, SIGNATURE, HEALTH_CODE = "qk-9f8e7d6c5b4a", "sig-3c2b1a0f", "code-1a2b3c4d"
SECRETS = (QUERY_KEY, SIGNATURE, HEALTH_CODE)
PAGE = "/admin/registry/mlmodel/deal-v1/change/"


@pytest.fixture
def deal(settings):
    return register("deal-v1", "custom",
                    endpoint=f"http://127.0.0.1:9/v1/models/deal:predict?api_key={QUERY_KEY}&sig={SIGNATURE}&v=2",
                    config={"headers": {"Accept": "application/json"},
                            "healthUrl": f"http://127.0.0.1:9/v1/models/deal?code={HEALTH_CODE}"})


def login(client, *, superuser: bool):
    users = get_user_model().objects
    if superuser:
        user = users.create_superuser("root", "root@example.com", "pw-root-123")
    else:
        user = users.create_user("viewer", "viewer@example.com", "pw-viewer-123", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_mlmodel"))
    client.force_login(user)
    return client


@pytest.mark.parametrize("superuser", [False, True])
def test_it_shows_no_provider_secret_on_the_model_page(client, deal, superuser):
    page = login(client, superuser=superuser).get(PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "127.0.0.1:9/v1/models/deal:predict" in text and "v=2" in text  # the rest is shown
    for secret in SECRETS:
        assert secret not in text


def form_data(page) -> dict:
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()  # as the page renders it (JSON fields as text)
        if value is None or name in ("api_key", "access_key_id", "secret_access_key", "session_token"):
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = value
    return data


def test_saving_the_page_keeps_the_secrets_and_another_host_needs_them_typed_again(client, deal):
    admin = login(client, superuser=True)
    data = form_data(admin.get(PAGE))
    assert all(secret not in json.dumps(data) for secret in SECRETS)
    data["description"] = "edited"
    config = json.loads(data["provider_config"])
    config["config"]["timeout"] = 7
    data["provider_config"] = json.dumps(config)
    response = admin.post(PAGE, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = MLModel.objects.get(pk="deal-v1")
    assert stored.description == "edited" and stored.provider_config["config"]["timeout"] == 7
    assert stored.provider_config["endpoint"] == deal.provider_config["endpoint"]
    assert stored.provider_config["config"]["healthUrl"] == deal.provider_config["config"]["healthUrl"]

    # The same *** pointed at another host: the stored secrets must not follow.
    config["endpoint"] = config["endpoint"].replace("127.0.0.1:9", "localhost:9")
    data["provider_config"] = json.dumps(config)
    refused = admin.post(PAGE, data)
    assert refused.status_code == 200
    assert "again" in str(refused.context["adminform"].form.errors["provider_config"])
    assert MLModel.objects.get(pk="deal-v1").provider_config == stored.provider_config
