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
