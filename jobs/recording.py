"""Storing a chunk's prediction-log rows through the database's bulk path, inside the
caller's transaction: PostgreSQL COPY (one stream, no per-row statement), SQLite one
executemany. One log row per scored row, as for every other prediction.

The rows come as columns with their JSON documents already written (jobs.scoring, orjson);
the writer is the one the request path's log buffer uses (predictions.recording.logs_write).
"""

from __future__ import annotations

from django.db import router

from jobs.scoring import LogColumns
from predictions import recording
from predictions.models import PredictionLog


def logs_bulk_insert(logs: LogColumns | recording.LogColumns) -> None:
    if not isinstance(logs, recording.LogColumns):  # jobs.scoring's own columns: the same lists
        logs = recording.LogColumns(
            **{name: getattr(logs, name) for name in recording.PER_ROW_COLUMNS},
            requested_model_id=logs.requested_model_id, created_at=logs.created_at,
        )
    recording.logs_write([logs], using=router.db_for_write(PredictionLog))
