from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def test_it_lists_jobs_with_a_progress_bar_and_cancels_the_selected(client):
    admin = get_user_model().objects.create_superuser("admin", "a@example.com", "pw-long-enough-42")
    client.force_login(admin)
    running = Job.objects.create(model_id="lead-scoring-v1", input_format="csv", created_by="token:crm",
                                 status=JobStatus.RUNNING, rows_total=200, rows_done=50, rows_failed=10)
    done = Job.objects.create(model_id="lead-scoring-v1", input_format="csv", created_by="token:crm",
                              status=JobStatus.SUCCEEDED, rows_total=10, rows_done=10)
    page = client.get("/admin/jobs/job/").content.decode()
    assert '<progress max="100" value="30.0"' in page and '<progress max="100" value="100.0"' in page
    response = client.post("/admin/jobs/job/", {"action": "cancel_selected",
                                                "_selected_action": [str(running.pk), str(done.pk)]})
    assert response.status_code == 302
    running.refresh_from_db()
    done.refresh_from_db()
    assert (running.status, done.status) == (JobStatus.CANCELLED, JobStatus.SUCCEEDED)
