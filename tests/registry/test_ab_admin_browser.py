"""The A/B report on the admin model page and the promote action, in headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from registry.models import MLModel, RegistryChange
from tests.predictions.test_ab_report import run_scenario
from tests.registry.test_admin_browser import CHROMIUM, FLAGS, site  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.browser]


@pytest.fixture
def better_challenger(api):
    # Before the site starts: Django's test client reconnects the per-request connection
    # closing that the site fixture turns off.
    run_scenario(api, challenger_right=0.92, champion_right=0.72, objects=300, seed=1)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_an_admin_reads_the_verdict_and_promotes_the_challenger(better_challenger, site, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-admin-123")
    shots = Path(settings.VAR_DIR) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the ORM runs in the server thread only
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=CHROMIUM, args=FLAGS, headless=True,
                viewport={"width": 1400, "height": 900})
            page = browser.new_page()
            page.goto(f"{site}/admin/login/?next=/admin/registry/mlmodel/lead-scoring-v2/change/")
            page.fill("#id_username", "admin")
            page.fill("#id_password", "pw-admin-123")
            page.click("input[type=submit]")
            page.wait_for_selector(".ab-report")
            verdict = page.inner_text(".ab-report-verdict")
            rows = {name: page.inner_text(f".ab-arm-{name}") for name in ("challenger", "champion")}
            page.locator(".ab-report").scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "admin-ab-report.png"), full_page=True)
            page.goto(f"{site}/admin/registry/mlmodel/")
            page.check("input[name=_selected_action][value=lead-scoring-v2]")
            page.select_option("select[name=action]", "promote_challengers")
            page.click("button[name=index]")
            page.wait_for_selector(".messagelist .success")
            message = page.inner_text(".messagelist")
            page.screenshot(path=str(shots / "admin-ab-promoted.png"), full_page=True)
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    assert verdict.startswith("challenger ahead at 95% confidence") and "p = " in verdict
    assert "lead-scoring-v2" in rows["challenger"] and "lead-scoring-v1" in rows["champion"]
    assert "Promoted lead-scoring-v2" in message
    assert not MLModel.objects.get(pk="lead-scoring-v2").ab_enabled
    assert RegistryChange.objects.filter(action="promote", actor="admin", source="admin").exists()
