from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.jobs.conftest import lead_csv, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "operator-password-42"


def test_it_follows_a_running_job_live_and_links_its_results(page, live_server, celery_worker, service_token,
                                                             shot, settings):
    settings.HOTCRM = {**settings.HOTCRM, "JOB_CHUNK_ROWS": 1000}
    get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {service_token}")
    # Submitted first, large enough to be still running when the page first asks on a fast machine.
    job = upload(api, lead_csv(120_000, bad_every=500), idColumn="lead_id").json()
    page.goto(f"{live_server.url}/dashboard/jobs/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/jobs/")
    row = f'tr[data-job="{job["id"]}"]'
    # Seen while running: part done, a rate and an ETA; then done, with its results linked.
    page.wait_for_selector(f'{row}[data-status="running"]', timeout=60_000)
    page.wait_for_function(
        f"""() => {{ const p = document.querySelector('{row} progress');
                    return p && Number(p.value) > 0 && Number(p.value) < 100; }}""", timeout=60_000)
    shot(page, "jobs-running")
    assert page.locator(f"{row} td").nth(6).inner_text() not in ("", "—")
    page.wait_for_selector(f'{row}[data-status="succeeded"]', timeout=120_000)
    assert page.locator(f"{row} a").get_attribute("href") == f"/api/v1/jobs/{job['id']}/results/"
    assert "240 /" in page.locator(f"{row} td").nth(4).inner_text()  # rows failed
    assert page.locator("#job-errors tr").count() > 1
    shot(page, "jobs-done")
