"""A client cannot dodge the per-address login lockout by forging X-Forwarded-For, through
real gunicorn workers: without trusted proxies the header is ignored; behind a trusted proxy
the right-most address the proxy did not vouch for is the client, whatever the client wrote
to the left of it."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from tests.faults.servers import AppServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="covered by the embedded run"),
]
PASSWORD = "operator-password-42"
LIMIT = 1  # per account; an address gets 4 times as many (apiauth/backends.py)
PROXY = "127.0.0.2"  # the trusted proxy: the test's connections bound to this loopback address


def login(app: AppServer, username: str, password: str, forwarded: str, source: str = "127.0.0.1") -> bool:
    """One dashboard login on fresh connections from `source` (gunicorn's workers share
    them); True when let in."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=app.base_url, timeout=60, headers={"X-Forwarded-For": forwarded},
                      transport=transport, limits=httpx.Limits(max_keepalive_connections=0)) as browser:
        page = browser.get("/dashboard/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = browser.post("/dashboard/login/", data={
            "username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{app.base_url}/dashboard/login/"})
    return answer.status_code == 302


def test_a_forged_x_forwarded_for_does_not_dodge_the_login_lockout(tmp_path, builtin_fixture, secret_key):
    app = AppServer(tmp_path, secret_key=secret_key, fixture=builtin_fixture, workers=2,
                    extra_env={"LOGIN_FAILURE_LIMIT": str(LIMIT), "TRUSTED_PROXIES": PROXY})
    try:
        app.prepare()
        app.env["DJANGO_SUPERUSER_PASSWORD"] = PASSWORD
        app.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "op@example.com")
        app.start()

        # A direct client (127.0.0.1, not a trusted proxy): its header is ignored. One guess
        # per account (under the account limit), each claiming a new address...
        for i in range(LIMIT * 4):
            assert not login(app, f"victim-{i}", "guess", forwarded=f"198.51.100.{i + 1}")
        # ...and its address is spent: even the right password, with yet another forged header.
        assert not login(app, "operator", PASSWORD, forwarded="203.0.113.200")

        # Behind the trusted proxy, which appends the address it saw (as nginx's
        # $proxy_add_x_forwarded_for does), the attacker forges everything left of it, a
        # trusted address included; the right-most address the proxy does not vouch for counts.
        # Some proxies (Azure's Application Gateway) write it with the client's port, new on
        # every connection: one client all the same.
        attacker, neighbour = "198.51.100.7", "198.51.100.8"
        for i in range(LIMIT * 4):
            forged = f"203.0.113.{i + 1}, {PROXY}"
            assert not login(app, f"other-{i}", "guess", forwarded=f"{forged}, {attacker}:{40000 + i}",
                             source=PROXY)
        assert not login(app, "operator", PASSWORD, forwarded=f"192.0.2.99, {attacker}", source=PROXY)
        # Another client behind the same proxy is not locked out by the attacker.
        assert login(app, "operator", PASSWORD, forwarded=neighbour, source=PROXY)
    finally:
        app.stop()
