"""The Celery app: `celery -A hotcrm_ai worker` on any machine that shares DATABASE_URL and
REDIS_URL. Its settings are the CELERY_* names in hotcrm_ai/settings.py ("Celery" section);
tasks live in each app's `tasks.py` and are found by autodiscovery.

Defining a task (thin: ids in, one service call, safe to run twice):

    from hotcrm_ai.celery import app

    @app.task(name="jobs.score_chunk")
    def score_chunk(chunk_id: int) -> None:
        chunk_score(chunk_id=chunk_id)

A periodic task is an entry of CELERY_BEAT_SCHEDULE (settings.py) naming the task.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotcrm_ai.settings")

app = Celery("hotcrm_ai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
