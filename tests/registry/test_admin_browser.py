"""The admin's "Test connection" button, clicked in headless Chromium."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connections

from tests.predictions.providers.conftest import register
from tests.predictions.providers.servers import LocalServer, Reply
from tests.registry.test_admin_connection import deal

pytestmark = [pytest.mark.django_db, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
SECRET = "sk-browser-test-1f2e3d4c5b6a"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    """The app served from this test's own database transaction: one server thread that
    borrows the test's connection, so it sees the rows the test wrote."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    httpd = make_server("127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()), handler_class=_Quiet)
    shared = connections["default"]  # the wrapper itself, not the per-thread proxy
    shared.inc_thread_sharing()

    def serve():
        connections["default"] = shared
        httpd.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    shared.dec_thread_sharing()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_an_admin_tests_a_models_connection_from_its_page(site, tmp_path):
    from playwright.sync_api import sync_playwright

    kserve = LocalServer(deal)
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-admin-123")
    register("deal-v1", "custom", endpoint=f"{kserve.url}/v1/models/deal:predict", credentials={"apiKey": SECRET})
    shots = Path(settings.VAR_DIR) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API runs an event loop in this thread; the ORM is used only by the
    # server thread while it runs.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = browser.new_page()
            page.goto(f"{site}/admin/login/?next=/admin/registry/mlmodel/deal-v1/change/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "pw-admin-123")
            page.click("input[type=submit]")
            page.wait_for_selector("#test-connection")
            assert SECRET not in page.content()
            page.click("#test-connection")
            page.wait_for_selector(".messagelist .success")
            ok = page.inner_text(".messagelist")
            page.screenshot(path=str(shots / "admin-test-connection-ok.png"), full_page=True)
            kserve.queue(Reply(503, {"error": "maintenance"}))
            page.click("#test-connection")
            page.wait_for_selector(".messagelist .error")
            failed = page.inner_text(".messagelist")
            page.screenshot(path=str(shots / "admin-test-connection-failed.png"), full_page=True)
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        kserve.close()
    assert "deal-v1 (custom): connection ok in" in ok.lower() and " ms" in ok  # CSS capitalises
    assert "connection FAILED in" in failed and "HTTP 503" in failed
    assert SECRET not in ok + failed
