from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from apiauth.authentication import ApiTokenAuthentication
from apiauth.models import ApiToken
from apiauth.services import token_create, token_revoke
from core import generations

pytestmark = pytest.mark.django_db


def authenticate(key):
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {key}")
    return ApiTokenAuthentication().authenticate(request)


def test_it_authenticates_a_warm_token_without_the_database(django_assert_num_queries):
    _, key = token_create(name="crm")
    authenticate(key)
    with django_assert_num_queries(0):
        user, token = authenticate(key)
    assert token.name == "crm" and user.username == "token:crm"


def test_it_refuses_a_token_revoked_by_this_process_at_once():
    token, key = token_create(name="crm")
    authenticate(key)
    token_revoke(token=token)
    with pytest.raises(Exception, match="Invalid or revoked"):
        authenticate(key)


def test_it_refuses_a_token_another_process_revoked_once_the_generation_moves(monkeypatch):
    _, key = token_create(name="crm")
    authenticate(key)
    # Another process: the row changes underneath (no signal here) and it bumps the counter.
    ApiToken.objects.filter(name="crm").update(revoked_at=timezone.now())
    assert authenticate(key) is not None  # still the cached copy until the counter is read
    generations.bump(generations.TOKENS)
    with pytest.raises(Exception, match="Invalid or revoked"):
        authenticate(key)


def test_it_sees_staff_rights_change_through_any_save():
    token, key = token_create(name="crm")
    assert not authenticate(key)[0].is_staff
    token.is_staff = True
    token.save()
    assert authenticate(key)[0].is_staff
