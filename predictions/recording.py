"""Storing prediction log rows: every answered prediction is one row.

A request appends its rows to this process's log buffer (core.write_behind) and answers;
the rows reach the database as one multi-row INSERT within `METRICS_FLUSH_INTERVAL` (after
a later response, or from the worker's background thread when it is idle), before this
process reads logs back, and at exit. Writing one row per request inside the request was
most of a cached prediction's time (a transaction per request, and on SQLite a wait for the
other worker's write lock: bench/profiles/). Feedback naming a prediction that another process has not stored yet
waits for that flush (predictions.feedback).
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.metrics import MetricRecord
from core.write_behind import WriteBuffer, insert_rows, register
from predictions.models import PredictionLog

if TYPE_CHECKING:
    from registry.models import MLModel

_FIELDS = PredictionLog._meta.concrete_fields


def _log_row_type() -> Any:
    # The model's own fields, read at import (a type checker cannot see them: Any).
    return namedtuple("LogRow", [f.attname for f in _FIELDS])


# One log row with Python values, in the table's column order.
LogRow = _log_row_type()
LABEL_KEYS = ("class", "risk", "sentiment")


class LogBuffer(WriteBuffer):
    what = "prediction log row"

    def store(self, batch: list[tuple]) -> None:
        _insert(batch)


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


def prediction_logs_record(rows: list[tuple]) -> None:
    """Queue the rows for the next flush (at once when the buffer is synchronous)."""
    _buffer.add(rows)


def prediction_logs_insert(logs: list[PredictionLog]) -> None:
    """Store model instances now, through the same INSERT the buffer uses."""
    _insert([LogRow(*(getattr(log, f.attname) for f in _FIELDS)) for log in logs])


def _insert(batch: list[tuple]) -> None:
    # Do not wait for PostgreSQL's WAL to reach disk: on a busy disk that wait was most of a
    # flush (8-10 ms). A crash may lose the last fraction of a second of log rows, never
    # corrupt them; other writes (registry, tokens, feedback, metrics) keep full durability.
    insert_rows(PredictionLog, _FIELDS, batch, durable=False)


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
