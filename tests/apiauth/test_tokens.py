from __future__ import annotations

import pytest
from django.core.management import call_command

from apiauth.models import ApiToken, hash_key
from apiauth.services import token_revoke

pytestmark = pytest.mark.django_db


def test_it_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash(capsys, client):
    call_command("create_api_token", "crm-sales")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    token = ApiToken.objects.get(name="crm-sales")
    assert token.key_hash == hash_key(key) and key not in token.key_hash
    assert not token.is_staff
    assert client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_it_creates_staff_tokens(capsys):
    call_command("create_api_token", "admin-bot", "--staff")
    assert ApiToken.objects.get(name="admin-bot").is_staff


def test_it_refuses_a_revoked_token(client, capsys):
    call_command("create_api_token", "old")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    token_revoke(token=ApiToken.objects.get(name="old"))
    assert client.get("/api/v1/models/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
