"""Storing a chunk's prediction-log rows through the database's bulk path, inside the
caller's transaction: PostgreSQL COPY (one stream, no per-row statement), SQLite one
executemany. One log row per scored row, as for every other prediction."""

from __future__ import annotations

import json

from django.db import connection

from core.write_behind import insert_rows
from predictions.models import PredictionLog
from predictions.recording import _FIELDS, LogRow

_JSON = {f.attname for f in _FIELDS if f.get_internal_type() == "JSONField"}


def logs_bulk_insert(rows: list[LogRow]) -> None:
    if not rows:
        return
    if connection.vendor != "postgresql":
        insert_rows(PredictionLog, _FIELDS, rows, durable=True)
        return
    json_at = [i for i, f in enumerate(_FIELDS) if f.attname in _JSON]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    sql = f"COPY {quote(PredictionLog._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            values = list(row)
            for i in json_at:
                if values[i] is not None:
                    values[i] = json.dumps(values[i], separators=(",", ":"), allow_nan=False)
            copy.write_row(values)
