"""Limits hold across processes on the embedded default too (no Redis): a token's rate and a
login lockout are counted where every gunicorn worker sees them."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from tests.faults.servers import AppServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="the embedded default is what it tests"),
]
PASSWORD = "operator-password-42"


def fresh(app: AppServer, **headers) -> httpx.Client:
    # No keep-alive: every request a new connection, so the workers share the requests.
    return httpx.Client(base_url=app.base_url, headers=headers, timeout=60,
                        limits=httpx.Limits(max_keepalive_connections=0))


def test_a_token_rate_and_a_login_lockout_hold_across_three_workers(tmp_path, builtin_fixture, secret_key):
    app = AppServer(tmp_path, secret_key=secret_key, fixture=builtin_fixture, workers=3)
    try:
        key = app.prepare("--throttle-rate", "30/min")
        app.env["DJANGO_SUPERUSER_PASSWORD"] = PASSWORD
        app.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "op@example.com")
        app.start()
        with fresh(app, Authorization=f"Token {key}") as client:
            statuses = [client.get("/api/v1/models/").status_code for _ in range(90)]
        assert statuses.count(200) == 30 and statuses.count(429) == 60, statuses

        def login(password: str) -> httpx.Response:
            with fresh(app) as browser:
                page = browser.get("/dashboard/login/")
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
                return browser.post("/dashboard/login/", data={
                    "username": "operator", "password": password, "csrfmiddlewaretoken": token},
                    headers={"Referer": f"{app.base_url}/dashboard/login/"})

        for i in range(9):
            assert login(f"wrong-{i}").status_code == 200
        locked = login(PASSWORD)
        assert locked.status_code == 200, "the tenth attempt, right or not, must be refused"
    finally:
        app.stop()
