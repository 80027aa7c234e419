from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db


def run(**options) -> list[str]:
    out = StringIO()
    call_command("create_first_admin", stdout=out, **options)
    return out.getvalue().splitlines()


def test_it_creates_admin_with_a_random_password_shown_once(client, monkeypatch, caplog):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    caplog.set_level(logging.DEBUG)

    password = run()[-1]

    assert len(password) >= 16 and get_user_model().objects.get(username="admin").is_superuser
    assert authenticate(username="admin", password=password) is not None
    again = run()
    assert password not in "\n".join(again) and "A superuser exists" in again[0]
    assert password not in caplog.text
    assert client.login(username="admin", password=password)
    assert client.get("/dashboard/").status_code == 200


def test_it_takes_the_password_from_the_environment_without_printing_it(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-chosen-passphrase-7")

    lines = run()

    assert "a-long-chosen-passphrase-7" not in "\n".join(lines)
    assert authenticate(username="admin", password="a-long-chosen-passphrase-7") is not None


def test_it_refuses_a_weak_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "123")

    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD"):
        run()

    assert not get_user_model().objects.exists()


def test_it_leaves_an_existing_superuser_alone(monkeypatch):
    get_user_model().objects.create_superuser("root", password="a-long-password-1")
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)

    run()

    assert list(get_user_model().objects.values_list("username", flat=True)) == ["root"]
