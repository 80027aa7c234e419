"""Storing a chunk's prediction-log rows through the database's bulk path, inside the
caller's transaction: PostgreSQL COPY (one stream, no per-row statement), SQLite one
executemany. One log row per scored row, as for every other prediction.

The rows come as columns with their JSON documents already written (jobs.scoring, orjson);
the writer is the one the request path's log buffer uses (predictions.recording.logs_write).
"""

from __future__ import annotations

from django.db import router

from predictions import recording
from predictions.models import PredictionLog


def logs_bulk_insert(logs: recording.LogColumns) -> None:
    recording.logs_write([logs], using=router.db_for_write(PredictionLog))
