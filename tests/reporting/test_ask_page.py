"""The dashboard's "ask a question" page, driven in headless Debian Chromium."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connections
from django.test import Client

from predictions.models import PredictionLog

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOSTILE = "<img src=x onerror=window.__pwned=1>"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def site(crm_data):
    """The app served from this test's own transaction: one server thread that borrows the
    test's connection, so the page sees the fixture rows."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    httpd = make_server("127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()), handler_class=_Quiet)
    shared = connections["default"]
    shared.inc_thread_sharing()

    def serve():
        connections["default"] = shared
        httpd.serve_forever(poll_interval=0.05)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    shared.dec_thread_sharing()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def browser_page(site):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "chromium is missing: run scripts/setup-browser"
    operator = get_user_model().objects.create_user("operator", password="operator-pass-42", is_staff=True)
    client = Client()
    client.force_login(operator)
    profile = tempfile.mkdtemp(prefix="hotcrm-ask-")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API keeps a loop here
    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 900},
            )
            context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                                  "url": site}])
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{site}/dashboard/ask/")
            yield page
            context.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        shutil.rmtree(profile, ignore_errors=True)
    assert not errors, f"JavaScript errors on the page: {errors}"


def ask(page, question: str, answers: int) -> None:
    page.fill("#ask-question", question)
    page.click("#ask-submit")
    page.wait_for_function(f"() => document.querySelector('.ask').dataset.answers === '{answers}'", timeout=20_000)


def table(page) -> list[list[str]]:
    return page.eval_on_selector_all("#ask-table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_it_answers_a_question_with_a_table_and_a_bar_chart(browser_page):
    page = browser_page
    ask(page, "Predictions per model", 1)

    assert page.text_content("#ask-summary") == (
        "Model lead-scoring-v1 has the highest number of predictions (5) of the 4 shown over all recorded data."
    )
    assert table(page) == [["lead-scoring-v1", "5"], ["churn-prediction-v1", "4"],
                           ["sentiment-analysis-v1", "4"], ["lead-scoring-v2", "2"]]
    drawn = page.evaluate("""() => { const c = Chart.getChart(document.getElementById('ask-chart'));
        return {type: c.config.type, labels: c.data.labels, data: c.data.datasets[0].data}; }""")
    assert drawn == {"type": "bar", "labels": ["lead-scoring-v1", "churn-prediction-v1",
                                                "sentiment-analysis-v1", "lead-scoring-v2"],
                     "data": [5, 4, 4, 2]}
    assert page.is_visible("#ask-chart")
    shot(page, "reporting-ask-bar")


def test_it_draws_a_line_per_model_over_days_and_a_single_figure(browser_page):
    page = browser_page
    ask(page, "Predictions per model per day since 2026-11-15", 1)
    drawn = page.evaluate("""() => { const c = Chart.getChart(document.getElementById('ask-chart'));
        return {type: c.config.type, labels: c.data.labels,
                series: Object.fromEntries(c.data.datasets.map(d => [d.label, d.data]))}; }""")
    assert drawn["type"] == "line"
    assert drawn["labels"] == ["2026-11-15", "2026-11-16", "2026-11-17", "2026-11-18"]
    # A model with no prediction on a day drew 0 there, not a line across the gap.
    assert drawn["series"] == {"lead-scoring-v1": [1, 0, 1, 2], "lead-scoring-v2": [0, 1, 0, 1],
                               "sentiment-analysis-v1": [0, 0, 1, 1], "churn-prediction-v1": [0, 0, 0, 1]}
    assert ["lead-scoring-v1", "2026-11-18", "2"] in table(page)
    shot(page, "reporting-ask-line")

    ask(page, "How many predictions for object id A-1?", 2)
    assert page.text_content("#ask-metric").strip() == "2"
    assert page.is_hidden("#ask-chart-box")


def test_it_shows_examples_when_it_cannot_answer(browser_page):
    page = browser_page
    ask(page, "What is the meaning of life?", 1)

    assert page.is_visible("#ask-error") and page.is_hidden("#ask-answer")
    assert "not understood" in page.text_content("#ask-error")
    assert page.locator("#ask-error li").count() >= 5
    shot(page, "reporting-ask-error")


@pytest.fixture
def hostile_row(crm_data):
    PredictionLog.objects.create(
        model_id="lead-scoring-v1", model_version="1", requested_model_id="lead-scoring-v1",
        provider="local", features={}, prediction={}, object_type=HOSTILE, object_id="X-1",
        created_at=crm_data,
    )


def test_it_shows_stored_text_as_text_never_as_html(hostile_row, browser_page):
    page = browser_page
    ask(page, "Predictions by object type", 1)

    assert [HOSTILE, "1"] in table(page)
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#ask-table img").count() == 0


def test_it_needs_a_login(db):
    response = Client().get("/dashboard/ask/")
    assert response.status_code == 302 and response["Location"].startswith("/dashboard/login/")
