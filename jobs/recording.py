"""Storing a chunk's prediction-log rows through the database's bulk path, inside the
caller's transaction: PostgreSQL COPY (one stream, no per-row statement), SQLite one
executemany. One log row per scored row, as for every other prediction.

The rows come as columns with their JSON documents already written (jobs.scoring, orjson),
so the only per-row work here is one tuple: no field preparation, no per-value adaptation
in Python (`core.write_behind.insert_rows` prepares every JSON and UUID value itself, which
was a third of a job row's CPU).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import Any

from django.db import connection

from jobs.scoring import LogColumns
from predictions.models import PredictionLog
from predictions.recording import _FIELDS

_COLUMNS = [f.attname for f in _FIELDS]
# The log's columns in table order, as jobs.scoring's LogColumns names them (None: empty).
_SOURCES = {
    "id": "ids", "model_id": "model_ids", "model_version": "versions", "requested_model_id": "requested_model_id",
    "ab_arm": "arms", "provider": "providers", "features": "features", "prediction": "predictions",
    "label": "labels", "confidence": "confidences", "cached": "cached", "shadow": "shadow", "user_id": None,
    "object_type": "object_types", "object_id": "object_ids", "created_at": "created_at", "actual": None,
    "feedback_at": None,
}
_EMPTY = {"user_id": ""}  # the value of a column no job row fills (None otherwise)


def logs_bulk_insert(logs: LogColumns) -> None:
    n = len(logs)
    if not n:
        return
    if connection.vendor == "postgresql":
        _copy(logs, n)
    else:
        _executemany(logs, n)


def _columns(logs: LogColumns, n: int, *, ids: list[str], created_at: object) -> list[Iterable[Any]]:
    out: list[Iterable[Any]] = []
    for name in _COLUMNS:
        source = _SOURCES[name]
        if name == "id":
            out.append(ids)
        elif name == "created_at":
            out.append(repeat(created_at, n))
        elif source is None:
            out.append(repeat(_EMPTY.get(name), n))
        elif source == "requested_model_id":
            out.append(repeat(logs.requested_model_id, n))
        else:
            out.append(getattr(logs, source))
    return out


def _executemany(logs: LogColumns, n: int) -> None:
    # Django's SQLite backend stores a UUID as its 32 hex digits and a datetime as ISO text.
    ids = [i.replace("-", "") for i in logs.ids]
    created_at = connection.ops.adapt_datetimefield_value(logs.created_at)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    placeholders = ", ".join(["?"] * len(_FIELDS))
    # Table and column names come from the model; every value is a bound parameter.
    sql = f"INSERT INTO {quote(PredictionLog._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    connection.ensure_connection()
    # The sqlite3 cursor itself: Django's wrapper would rewrite the SQL and copy every row.
    raw = connection.connection.cursor()  # type: ignore[union-attr]  # connected just above
    try:
        raw.executemany(sql, zip(*_columns(logs, n, ids=ids, created_at=created_at), strict=False))
    finally:
        raw.close()


def _copy(logs: LogColumns, n: int) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    sql = f"COPY {quote(PredictionLog._meta.db_table)} ({columns}) FROM STDIN"
    rows = zip(*_columns(logs, n, ids=logs.ids, created_at=logs.created_at), strict=False)
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
