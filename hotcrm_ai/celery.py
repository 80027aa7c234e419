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
from typing import Any

from celery import Celery
from celery.signals import task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotcrm_ai.settings")

app = Celery("hotcrm_ai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _fresh_connections(sender: Any = None, **_: Any) -> None:
    """What Django does at the start of each request, at the start of each task: drop a
    database connection that is past CONN_MAX_AGE or has failed, and health-check the kept
    one at its first query. Celery's own fixup closes every connection around every task
    instead unless CELERY_DB_REUSE_MAX is set (settings.py), which costs a new PostgreSQL
    backend per task. Not for eager tasks: they run inside their caller's transaction."""
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
