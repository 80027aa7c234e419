"""Production settings, checked in fresh processes as a deployment would start them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "x7!Qm2vR9#pL4sT8wZ1cY6nB3dF5hJ0kA-gE_uI&oP*rS^tV%yX(zW)qN+mC=lK"


def run(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    base |= {"HOTCRM_ENV": "production", "HOTCRM_VAR_DIR": str(tmp_path), "ALLOWED_HOSTS": "ai.example.com"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=base | env, capture_output=True, text=True,
                          timeout=120)


def test_it_passes_check_deploy_with_no_warnings(tmp_path):
    result = run(tmp_path, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], SECRET_KEY=SECRET)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_it_refuses_to_start_in_production_without_a_secret_key(tmp_path):
    result = run(tmp_path, ["manage.py", "check"])
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_it_sends_security_headers_in_production(tmp_path):
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/api/v1/models/', secure=True, HTTP_HOST='ai.example.com');"
        "print(r.status_code);"
        "[print(h + '=' + r.headers.get(h, '')) for h in ('Strict-Transport-Security', 'X-Content-Type-Options',"
        " 'X-Frame-Options', 'Referrer-Policy', 'Cross-Origin-Opener-Policy')];"
        "p = Client().get('/api/v1/models/', HTTP_HOST='ai.example.com');"
        "print('plain', p.status_code, p.headers.get('Location'))"
    )
    result = run(tmp_path, ["-c", script], SECRET_KEY=SECRET, DJANGO_SETTINGS_MODULE="hotcrm_ai.settings")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "401"
    headers = dict(line.split("=", 1) for line in lines[1:6])
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert lines[6] == "plain 301 https://ai.example.com/api/v1/models/"


@pytest.mark.parametrize(("name", "value"), [("DEBUG", "maybe"), ("BATCH_LIMIT", "many"), ("HOTCRM_ENV", "prod")])
def test_it_refuses_malformed_configuration(tmp_path, name, value):
    result = run(tmp_path, ["manage.py", "check"], SECRET_KEY=SECRET, **{name: value})
    assert result.returncode != 0
    assert name in result.stderr


@pytest.mark.parametrize("weak", [
    "short-key-123",  # short
    "ab" * 40,  # long, two characters
    "abcdeabcdeabcdeabcdeabcdeabcdeabcdeabcdeabcdeabcde",  # 50 characters, five different: 116 bits
    "django-insecure-" + "k3y!" * 20,  # Django's development key
])
def test_it_refuses_to_start_in_production_with_a_weak_secret_key(tmp_path, weak):
    """The credentials key and the artifact signing key are derived from SECRET_KEY."""
    result = run(tmp_path, ["manage.py", "check"], SECRET_KEY=weak)
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr
    assert weak not in result.stderr


def test_it_sends_a_content_security_policy_on_every_page(client, admin_client):
    for response in (client.get("/dashboard/login/"), admin_client.get("/admin/"),
                     admin_client.get("/dashboard/"), admin_client.get("/api/docs/"), client.get("/healthz")):
        policy = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy


def test_the_docs_page_holds_no_inline_script(admin_client):
    page = admin_client.get("/api/docs/").content.decode()
    assert "<script>" not in page and "<script src=" in page


def test_it_protects_metrics_with_metrics_token_when_set(client, settings):
    assert client.get("/metrics").status_code == 200
    settings.METRICS_TOKEN = "scrape-0123456789"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    scraped = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-0123456789")
    assert scraped.status_code == 200 and b"# HELP" in scraped.content
