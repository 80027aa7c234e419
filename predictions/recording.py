"""Storing prediction log rows: every answered prediction is one row.

A request appends its rows to this process's log buffer (monitoring.recorder's write-behind
buffer) and answers; the rows reach the database as one multi-row INSERT from the worker's
background thread within `METRICS_FLUSH_INTERVAL`, before this process reads logs back, and
at exit. Writing one row per request inside the request was most of a cached prediction's
time (a transaction per request, and on SQLite a wait for the other worker's write lock:
bench/profiles/). Feedback naming a prediction that another process has not stored yet
waits for that flush (predictions.feedback).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from django.db import connections, router, transaction

from monitoring.recorder import WriteBuffer
from predictions.models import PredictionLog

_FIELDS = PredictionLog._meta.concrete_fields
# One log row with Python values, in the table's column order.
LogRow = namedtuple("LogRow", [f.attname for f in _FIELDS])


class LogBuffer(WriteBuffer):
    what = "prediction log row"

    def store(self, batch: list[LogRow]) -> None:
        _insert(batch)


_buffer = LogBuffer()


def log_buffer() -> LogBuffer:
    return _buffer


def prediction_logs_record(rows: list[LogRow]) -> None:
    """Queue the rows for the next flush (at once when the buffer is synchronous)."""
    _buffer.add(rows)


def prediction_logs_insert(logs: list[PredictionLog]) -> None:
    """Store model instances now, through the same INSERT the buffer uses."""
    _insert([LogRow(*(getattr(log, f.attname) for f in _FIELDS)) for log in logs])


def _insert(batch: list[LogRow]) -> None:
    """One executemany, each value prepared as its field would (`get_db_prep_save`), but only
    the columns that need it, and a timestamp shared by a request's rows once.

    Hand-rolled because `bulk_create`'s SQL compiler and per-value field calls were most of
    the cost of writing log rows (a 1,000-row batch: 60 ms with bulk_create on SQLite, 35 ms
    with per-field preparation, bench/profiles/).
    """
    if not batch:
        return
    using = router.db_for_write(PredictionLog)
    connection = connections[using]
    ops = connection.ops
    adapted: dict[Any, Any] = {}

    def when(value: Any) -> Any:
        if value is None:
            return None
        if value not in adapted:
            adapted[value] = ops.adapt_datetimefield_value(value)
        return adapted[value]

    def as_json(value: Any) -> Any:
        return None if value is None else ops.adapt_json_value(value, None)

    pk = PredictionLog._meta.pk
    convert = []
    for i, f in enumerate(_FIELDS):
        kind = f.get_internal_type()
        if f is pk:
            convert.append((i, _uuid_preparer(connection)))
        elif kind == "JSONField":
            convert.append((i, as_json))
        elif kind == "DateTimeField":
            convert.append((i, when))
    rows = []
    for row in batch:
        values = list(row)
        for i, prepare in convert:
            values[i] = prepare(values[i])
        rows.append(values)
    # Its own transaction even inside a caller's atomic block, as for metrics.
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Do not wait for the WAL to reach disk: on a busy disk that wait was most of a
            # flush (8-10 ms). A PostgreSQL crash may lose the last fraction of a second of
            # log rows, never corrupt them; other writes (registry, tokens, feedback) keep
            # full durability.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.executemany(_insert_sql(connection), rows)


def _uuid_preparer(connection):
    """What UUIDField stores for an id: the UUID itself where the database has a uuid type,
    else its 32 hex digits. Our ids are canonical strings already (predictions.ids), so
    they skip the UUID round trip; anything else goes through the field."""
    pk = PredictionLog._meta.pk
    native = connection.features.has_native_uuid_field

    def prepare(value: Any) -> Any:
        if isinstance(value, str) and len(value) == 36 and value.islower():
            return value if native else value.replace("-", "")
        return pk.get_db_prep_value(value, connection)

    return prepare


def _insert_sql(connection) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _FIELDS)
    return f"INSERT INTO {quote(PredictionLog._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(_FIELDS))})"  # noqa: S608 (names from the model, values bound)
