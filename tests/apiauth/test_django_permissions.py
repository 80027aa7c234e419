"""Django permissions mean what they say: a session user reaches registry writes and cache
clears only with the model permissions, admin list actions need the right they use, and only
staff (or `view_dashboard`) see the pages, the docs and the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from apiauth.models import ApiToken
from apiauth.services import token_create
from registry.models import MLModel

pytestmark = pytest.mark.django_db
NEW_MODEL = {"id": "perm-v1", "name": "x", "version": "1", "type": "regression"}


def _user(django_user_model, *codenames, staff=True):
    user = django_user_model.objects.create_user(f"u{len(codenames)}{staff}", password="a-long-password-1",
                                                 is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return django_user_model.objects.get(pk=user.pk)


def _session(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def test_a_staff_session_without_model_permissions_cannot_write_through_the_api(django_user_model):
    viewer = _session(_user(django_user_model, "view_mlmodel"))
    assert viewer.get("/api/v1/models/").status_code == 200
    attempts = [
        viewer.post("/api/v1/models/", NEW_MODEL, format="json"),
        viewer.patch("/api/v1/models/lead-scoring-v1/", {"cacheTtl": 0}, format="json"),
        viewer.delete("/api/v1/models/churn-prediction-v1/"),
        viewer.post("/api/v1/models/lead-scoring-v2/promote/"),
        viewer.delete("/api/v1/cache/"),
        viewer.get("/api/v1/models/lead-scoring-v1/changes/"),
    ]
    assert [r.status_code for r in attempts] == [403] * 6
    assert not MLModel.objects.filter(pk="perm-v1").exists()
    assert MLModel.objects.get(pk="lead-scoring-v1").cache_ttl != 0


def test_a_session_with_the_permissions_may_write(django_user_model):
    editor = _session(_user(django_user_model, "add_mlmodel", "change_mlmodel", "clear_cache"))
    assert editor.post("/api/v1/models/", NEW_MODEL, format="json").status_code == 201
    assert editor.patch("/api/v1/models/perm-v1/", {"cacheTtl": 0}, format="json").status_code == 200
    assert editor.delete("/api/v1/cache/").status_code == 200
    assert editor.delete("/api/v1/models/perm-v1/").status_code == 403  # no delete_mlmodel


def test_a_plain_user_sees_neither_the_pages_nor_the_api(django_user_model, client):
    client.force_login(_user(django_user_model, staff=False))
    for page in ("/dashboard/", "/dashboard/data/", "/dashboard/models/lead-scoring-v1/",
                 "/dashboard/ask/", "/api/docs/"):
        assert client.get(page).status_code == 403, page
    assert client.get("/api/v1/models/").status_code == 403
    assert client.get("/api/schema/").status_code == 403


def test_view_dashboard_opens_the_pages(django_user_model, client):
    client.force_login(_user(django_user_model, "view_dashboard", staff=False))
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_a_view_only_admin_cannot_run_list_actions(django_user_model, client):
    token_create(name="victim")
    viewer = _user(django_user_model, "view_mlmodel", "view_apitoken")
    client.force_login(viewer)
    token = ApiToken.objects.get(name="victim")
    client.post("/admin/apiauth/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    client.post("/admin/registry/mlmodel/", {"action": "promote_challengers",
                                             "_selected_action": ["lead-scoring-v2"]})
    client.post("/admin/registry/mlmodel/", {"action": "test_connection",
                                             "_selected_action": ["lead-scoring-v1"]})
    token.refresh_from_db()
    assert token.revoked_at is None
    assert MLModel.objects.get(pk="lead-scoring-v2").ab_enabled
    listing = client.get("/admin/registry/mlmodel/").content.decode()
    assert "promote_challengers" not in listing and "test_connection" not in listing
