"""Storing prediction log rows: every answered prediction is one row.

A request appends its rows to this process's log buffer (core.write_behind) and answers;
the rows reach the database through its bulk path (PostgreSQL COPY, SQLite one executemany)
within `METRICS_FLUSH_INTERVAL` (after a later response, or from the worker's background
thread when it is idle), before this process reads logs back, and at exit. Writing one row
per request inside the request was most of a cached prediction's time (a transaction per
request, and on SQLite a wait for the other worker's write lock: bench/profiles/). Feedback
naming a prediction that another process has not stored yet waits for that flush
(predictions.feedback).

Rows travel as columns (`LogColumns`: one list per column, JSON already written by orjson),
from the request (`prediction_logs_record_columns`) or a bulk job's chunk (jobs.recording)
to `logs_write`: no per-row object, no per-value preparation in Python.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import namedtuple
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any

import orjson
from django.core.exceptions import ImproperlyConfigured
from django.db import DataError, connections, router, transaction

from core.metrics import MetricRecord
from core.write_behind import UNSTORABLE_ROWS, WriteBuffer, insert_rows, json_text, register
from predictions.models import PredictionLog

if TYPE_CHECKING:
    from registry.models import MLModel

logger = logging.getLogger(__name__)

_FIELDS = PredictionLog._meta.concrete_fields


def _log_row_type() -> Any:
    # The model's own fields, read at import (a type checker cannot see them: Any).
    return namedtuple("LogRow", [f.attname for f in _FIELDS])


# One log row with Python values, in the table's column order.
LogRow = _log_row_type()
LABEL_KEYS = ("class", "risk", "sentiment")


@dataclass
class LogColumns:
    """Prediction-log rows as columns, one list per column (each as long as `ids`), except
    the values every row shares (one request, one job chunk). `features` and `predictions`
    are JSON text (`json_texts`); ids are canonical lower-case UUID strings
    (predictions.ids). `user_ids` None: every row's is empty. The outcome columns (`actual`,
    `feedback_at`) start empty."""

    ids: list[str] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    arms: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)  # JSON text
    predictions: list[str] = field(default_factory=list)  # JSON text
    labels: list[str] = field(default_factory=list)
    confidences: list[float | None] = field(default_factory=list)
    cached: list[bool] = field(default_factory=list)
    shadow: list[bool] = field(default_factory=list)
    object_types: list[str] = field(default_factory=list)
    object_ids: list[str] = field(default_factory=list)
    requested_model_id: str = ""
    created_at: datetime | None = None
    user_ids: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, other: LogColumns) -> None:
        """Append `other`'s rows (the values every row shares stay this one's)."""
        if self.user_ids is not None or other.user_ids is not None:
            self.user_ids = (self.user_ids or [""] * len(self)) + (other.user_ids or [""] * len(other))
        for name in PER_ROW_COLUMNS:
            getattr(self, name).extend(getattr(other, name))

    def row(self, i: int) -> LogColumns:
        """Row `i` alone (a refused batch is retried row by row)."""
        return LogColumns(
            **{name: [getattr(self, name)[i]] for name in PER_ROW_COLUMNS}, requested_model_id=self.requested_model_id,
            created_at=self.created_at, user_ids=None if self.user_ids is None else [self.user_ids[i]],
        )


PER_ROW_COLUMNS = ("ids", "model_ids", "versions", "arms", "providers", "features", "predictions", "labels", "confidences",
            "cached", "shadow", "object_types", "object_ids")
# The log's columns in table order, each with the LogColumns list that fills it (None: a
# value every row of a batch shares, or an empty outcome column).
_SOURCES = {
    "id": "ids", "model_id": "model_ids", "model_version": "versions", "requested_model_id": None,
    "ab_arm": "arms", "provider": "providers", "features": "features", "prediction": "predictions",
    "label": "labels", "confidence": "confidences", "cached": "cached", "shadow": "shadow", "user_id": None,
    "object_type": "object_types", "object_id": "object_ids", "created_at": None, "actual": None,
    "feedback_at": None,
}
if list(_SOURCES) != [f.attname for f in _FIELDS]:
    raise ImproperlyConfigured("predictions.recording must name every PredictionLog column in table order")


def json_texts(values: list[Any]) -> list[str]:
    """JSON documents as the log stores them (core.write_behind.json_text), written by
    orjson in one pass; what orjson refuses (integers past 64 bits, keys that are not
    strings) goes through the standard library."""
    dumps = orjson.dumps
    try:
        return [dumps(v).decode() for v in values]
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return [json_text(v) for v in values]


class LogBuffer(WriteBuffer):
    """Pending items are LogColumns, one per request (`rows_in` counts their rows)."""

    what = "prediction log row"

    def rows_in(self, items: list) -> int:
        return sum(len(c) for c in items)

    def split(self, items: list) -> list:
        return [c.row(i) for c in items for i in range(len(c))]

    def add(self, rows: list) -> None:
        """LogRow tuples (turned into columns here)."""
        columns = _rows_to_columns(rows)
        self._add(columns, self.rows_in(columns))

    def add_columns(self, logs: LogColumns) -> None:
        if len(logs):
            self._add([logs], len(logs))

    def store(self, batch: list[LogColumns]) -> None:
        # Do not wait for PostgreSQL's WAL to reach disk: on a busy disk that wait was most
        # of a flush (8-10 ms). A crash may lose the last fraction of a second of log rows,
        # never corrupt them; other writes (registry, tokens, feedback, metrics) keep full
        # durability. Its own transaction even inside a request's atomic block: the rows of
        # a request that later fails must still be stored, and a failed write must not
        # poison the caller.
        using = router.db_for_write(PredictionLog)
        conn = connections[using]
        with transaction.atomic(using=using):
            if conn.vendor == "postgresql":
                with conn.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            logs_write(batch, using=using)


_buffer = register(LogBuffer())


def log_buffer() -> LogBuffer:
    return _buffer


def log_label(value: Any) -> str:
    """The label column of a prediction's log row: its class, risk or sentiment."""
    if isinstance(value, dict):
        for key in LABEL_KEYS:
            label = value.get(key)
            if isinstance(label, str):
                return label[:50]
    return ""


def context_columns(context: dict[str, Any] | None) -> tuple[str, str, str]:
    """The user_id, object_type and object_id columns of a prediction's context."""
    context = context or {}
    return (str(context.get("userId") or "")[:200], str(context.get("objectType") or "")[:100],
            str(context.get("objectId") or "")[:200])


def prediction_logs_record_columns(logs: LogColumns) -> None:
    """Queue one request's log rows, as columns, for the next flush (at once when the
    buffer is synchronous). The lists are kept, not copied: do not change them after."""
    _buffer.add_columns(logs)


def prediction_logs_record(rows: list[Any]) -> None:
    """Queue LogRow tuples for the next flush (at once when the buffer is synchronous).
    Prefer `prediction_logs_record_columns`: this one turns the rows into columns first."""
    _buffer.add(rows)


def prediction_logs_insert(logs: list[PredictionLog]) -> None:
    """Store model instances now, through the field-preparing INSERT (core.write_behind):
    instances may carry outcomes and UUID objects the columnar path does not take."""
    # Not durable: see LogBuffer.store.
    insert_rows(PredictionLog, _FIELDS, [LogRow(*(getattr(log, f.attname) for f in _FIELDS)) for log in logs],
                durable=False)


def logs_write(batches: Iterable[LogColumns], *, using: str = "default") -> None:
    """Write the batches' rows in the caller's transaction through the database's bulk path:
    PostgreSQL one COPY, SQLite one executemany of pre-built rows (the sqlite3 cursor
    itself: Django's wrapper would rewrite the SQL and copy every row). Database errors
    come as Django's (DataError, IntegrityError...: core.write_behind.row_fault)."""
    batches = [b for b in batches if len(b)]
    if not batches:
        return
    conn = connections[using]
    quote = conn.ops.quote_name
    table, columns = quote(PredictionLog._meta.db_table), ", ".join(quote(f.column) for f in _FIELDS)
    conn.ensure_connection()
    with conn.wrap_database_errors:
        if conn.vendor == "postgresql":
            try:
                data: bytes | None = b"".join(_copy_text(b) for b in batches)
            except TypeError:  # a value that is not text or a number: psycopg adapts it, row by row
                data = None
            with conn.connection.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]  # connected above
                    f"COPY {table} ({columns}) FROM STDIN") as copy:
                if data is not None:
                    copy.write(data)
                    return
                write = copy.write_row
                for b in batches:
                    for row in _rows(b, ids=b.ids, created_at=b.created_at):
                        write(row)
            return
        # Django's SQLite backend stores a UUID as its 32 hex digits and a datetime as ISO text.
        adapt = conn.ops.adapt_datetimefield_value
        placeholders = ", ".join(["?"] * len(_FIELDS))
        # Table and column names come from the model; every value is a bound parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        raw = conn.connection.cursor()  # type: ignore[union-attr]  # connected above
        try:
            for b in batches:
                raw.executemany(sql, _rows(b, ids=[i.replace("-", "") for i in b.ids], created_at=adapt(b.created_at)))
        finally:
            raw.close()


def _rows(logs: LogColumns, *, ids: list[str], created_at: Any) -> Iterator[tuple]:
    n = len(logs)
    columns: list[Iterable[Any]] = []
    for name, source in _SOURCES.items():
        if name == "id":
            columns.append(ids)
        elif source is not None:
            columns.append(getattr(logs, source))
        elif name == "requested_model_id":
            columns.append(repeat(logs.requested_model_id, n))
        elif name == "created_at":
            columns.append(repeat(created_at, n))
        elif name == "user_id":
            columns.append(repeat("", n) if logs.user_ids is None else logs.user_ids)
        else:  # actual, feedback_at
            columns.append(repeat(None, n))
    return zip(*columns, strict=False)


def _copy_text(logs: LogColumns) -> bytes:
    """The rows in COPY's text format (tab-separated, \\N for NULL), built a column at a time.

    Hand-written rather than psycopg's `write_row`, which looks up a dumper for every value
    (18 a row): 8.4 -> 2.8 us a row (bench/logwrite.py). Each text column is escaped in one
    pass over its values joined by NUL, which PostgreSQL text cannot hold anyway (a value
    holding one is refused as the database refuses it, DataError: that row is set aside)."""
    n = len(logs)
    if not n:
        return b""
    user_ids = [""] * n if logs.user_ids is None else _copy_escaped(logs.user_ids)
    created_at = "\\N" if logs.created_at is None else logs.created_at.isoformat()
    columns = [
        _copy_escaped(logs.ids), _copy_escaped(logs.model_ids), _copy_escaped(logs.versions),
        [_copy_escaped([logs.requested_model_id])[0]] * n, _copy_escaped(logs.arms), _copy_escaped(logs.providers),
        _copy_escaped(logs.features), _copy_escaped(logs.predictions), _copy_escaped(logs.labels),
        ["\\N" if c is None else repr(float(c)) for c in logs.confidences],
        ["t" if c else "f" for c in logs.cached], ["t" if s else "f" for s in logs.shadow], user_ids,
        _copy_escaped(logs.object_types), _copy_escaped(logs.object_ids), [created_at] * n, ["\\N"] * n, ["\\N"] * n,
    ]
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode()


def _copy_escaped(values: list[str]) -> list[str]:
    joined = "\x00".join(values)  # TypeError for a value that is not text: the caller's fallback
    if joined.count("\x00") != len(values) - 1:
        raise DataError("PostgreSQL text cannot hold NUL (0x00)")
    for special, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        if special in joined:
            joined = joined.replace(special, escaped)
    return joined.split("\x00")


def _rows_to_columns(rows: list[Any]) -> list[LogColumns]:
    """LogRow tuples as LogColumns, one per run of rows sharing their request's requested
    model and timestamp. A row whose JSON cannot be written is set aside (counted, logged)
    as the store sets aside a row the database refuses (core.write_behind)."""
    if not rows:
        return []
    # One request's rows (the usual call): transposed at C speed, JSON in one pass each.
    (ids, model_ids, versions, requested, arms, providers, features, predictions, labels, confidences, cached,
     shadow, user_ids, object_types, object_ids, created_at, actual, feedback_at) = zip(*rows, strict=True)
    if len(set(requested)) == 1 and len(set(created_at)) == 1 and all(a is None for a in actual) \
            and all(f is None for f in feedback_at):
        try:
            feature_texts, prediction_texts = json_texts(list(features)), json_texts(list(predictions))
        except (TypeError, ValueError):
            pass  # a row whose JSON cannot be written: row by row below, that row set aside
        else:
            return [LogColumns(
                ids=[_id_text(i) for i in ids], model_ids=list(model_ids), versions=list(versions), arms=list(arms),
                providers=list(providers), features=feature_texts, predictions=prediction_texts, labels=list(labels),
                confidences=list(confidences), cached=list(cached), shadow=list(shadow),
                object_types=list(object_types), object_ids=list(object_ids), requested_model_id=requested[0],
                created_at=created_at[0], user_ids=list(user_ids),
            )]
    out: list[LogColumns] = []
    logs: LogColumns | None = None
    for r in rows:
        if r.actual is not None or r.feedback_at is not None:
            raise ValueError("A queued log row starts without an outcome")
        try:
            feature_text, prediction_text = json_text(r.features), json_text(r.prediction)
        except (TypeError, ValueError) as exc:
            UNSTORABLE_ROWS.labels(_buffer.what).inc()
            logger.error("Set aside a %s that cannot be stored (%s: %s)", _buffer.what, type(exc).__name__,
                         str(exc)[:200])
            continue
        if logs is None or r.requested_model_id != logs.requested_model_id or r.created_at != logs.created_at:
            logs = LogColumns(requested_model_id=r.requested_model_id, created_at=r.created_at, user_ids=[])
            out.append(logs)
        logs.ids.append(_id_text(r.id))
        logs.model_ids.append(r.model_id)
        logs.versions.append(r.model_version)
        logs.arms.append(r.ab_arm)
        logs.providers.append(r.provider)
        logs.features.append(feature_text)
        logs.predictions.append(prediction_text)
        logs.labels.append(r.label)
        logs.confidences.append(r.confidence)
        logs.cached.append(r.cached)
        logs.shadow.append(r.shadow)
        logs.user_ids.append(r.user_id)  # type: ignore[union-attr]  # a list above
        logs.object_types.append(r.object_type)
        logs.object_ids.append(r.object_id)
    return out


def _id_text(value: Any) -> str:
    """A log id as the canonical lower-case UUID text (ours are already: predictions.ids)."""
    if isinstance(value, str) and len(value) == 36 and value.islower():
        return value
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError:
        return str(value)  # not a UUID: the database refuses it and the row is set aside


def request_metrics(
    answered: Iterable[tuple[MLModel, str, bool, float | None]], *, latency_ms: float, timestamp: datetime,
    timed_already: Iterable[tuple[str, str]] = (),
) -> list[MetricRecord]:
    """The metric records of one request's answered rows, each row `(model, arm, cached,
    confidence)`: one record per model, arm, cached or not and with a confidence or not,
    carrying its row count and their mean confidence. One record per model and arm is timed
    (monitoring.models.Metric): counts stay per row, latency is one observation per request.
    Its uncached record is timed first, so a request timed as cached had every row from the
    cache. `timed_already`: (model, arm) whose failure in this request was recorded timed."""
    groups: dict[tuple[str, str, bool, bool], tuple[MLModel, list[float | None]]] = {}
    for model, arm, cached, confidence in answered:
        key = (model.pk, arm, cached, confidence is None)
        groups.setdefault(key, (model, []))[1].append(confidence)
    timed = set(timed_already)
    records = []
    for (model_id, arm, cached, _), (model, confidences) in sorted(groups.items(), key=lambda g: g[0][2]):
        known = [c for c in confidences if c is not None]
        records.append(MetricRecord(
            model_id=model_id, model_version=model.version, timestamp=timestamp, latency_ms=latency_ms,
            confidence=math.fsum(known) / len(known) if known else None, cached=cached, success=True,
            provider=model.provider, ab_arm=arm, rows=len(confidences), timed=(model_id, arm) not in timed,
        ))
        timed.add((model_id, arm))
    return records
