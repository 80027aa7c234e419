"""Prediction-log rows as JSON Lines, for archiving before retention removes them
(`manage.py export_predictions`): one object per row, camelCase names as the API uses, every
column kept, so a line gives back exactly the row it came from (`archive_restore`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from predictions.models import PredictionLog

# Column (attname) -> name in the archive.
NAMES = {
    "id": "id", "created_at": "createdAt", "model_id": "modelId", "model_version": "modelVersion",
    "requested_model_id": "requestedModelId", "ab_arm": "abArm", "provider": "provider", "features": "features",
    "prediction": "prediction", "label": "label", "confidence": "confidence", "cached": "cached",
    "shadow": "shadow", "user_id": "userId", "object_type": "objectType", "object_id": "objectId",
    "actual": "actual", "feedback_at": "feedbackAt",
}
TIMES = ("created_at", "feedback_at")


def archive_record(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for column, name in NAMES.items():
        value = row[column]
        if column == "id":
            value = str(value)
        elif column in TIMES and value is not None:
            value = value.isoformat()
        out[name] = value
    return out


def archive_restore(record: dict[str, Any]) -> PredictionLog:
    """The log row an archived line came from (unsaved)."""
    values = {column: record[name] for column, name in NAMES.items()}
    values["id"] = uuid.UUID(values["id"])
    for column in TIMES:
        if values[column] is not None:
            values[column] = datetime.fromisoformat(values[column])
    return PredictionLog(**values)


def archive_rows(since: datetime | None, until: datetime | None) -> Iterator[dict[str, Any]]:
    """Rows created in [since, until), oldest first, read a few thousand at a time."""
    rows = PredictionLog.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    for row in rows.order_by("created_at", "id").values(*NAMES).iterator(chunk_size=2000):
        yield archive_record(row)


def archive_write(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    written = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":")))
        out.write("\n")
        written += 1
    return written
