"""The per-process metric buffer.

A prediction only appends its metric to a list here (microseconds); the list reaches the
shared database as ONE multi-row INSERT when it holds `METRICS_BUFFER_SIZE` records, when
its oldest record is older than `METRICS_FLUSH_INTERVAL` seconds, before this process
computes stats, from a background thread in every gunicorn worker (so an idle worker's
records are stored within the interval too), and at exit (atexit and gunicorn's
`worker_exit` hook). Nothing lives only in process memory for longer than that interval.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import close_old_connections, connection, transaction

if TYPE_CHECKING:
    from monitoring.models import Metric

logger = logging.getLogger(__name__)

# While the database is unreachable records wait here; beyond this many the oldest go.
MAX_PENDING = 50_000


class MetricBuffer:
    def __init__(self) -> None:
        self._pending: list[Metric] = []
        self._oldest = 0.0  # monotonic time the oldest pending record arrived
        self._lock = threading.Lock()
        # Serialises flushes so two threads never insert the same records.
        self._flush_lock = threading.Lock()
        self._since_trim: Counter[str] = Counter()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.synchronous = False

    # --- settings -----------------------------------------------------------------------
    @property
    def max_size(self) -> int:
        return 1 if self.synchronous else max(1, settings.HOTCRM["METRICS_BUFFER_SIZE"])

    @property
    def interval(self) -> float:
        return settings.HOTCRM["METRICS_FLUSH_INTERVAL"]

    # --- writing ------------------------------------------------------------------------
    def add(self, metrics: list[Metric]) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._oldest = now
            self._pending.extend(metrics)
            due = len(self._pending) >= self.max_size or now - self._oldest >= self.interval
        if due:
            self.flush()

    def flush(self) -> int:
        """Store every pending record in one INSERT; returns how many were stored."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                _insert(batch)
            except Exception:
                from monitoring.prometheus import METRIC_STORE_FAILURES

                METRIC_STORE_FAILURES.inc()
                logger.exception("Could not store %d metric(s); keeping them for the next flush", len(batch))
                self._requeue(batch)
                return 0
            self._trim_after(batch)
            return len(batch)

    def discard(self) -> None:
        with self._lock:
            self._pending = []
        self._since_trim.clear()

    def pending(self) -> int:
        return len(self._pending)

    def _requeue(self, batch: list[Metric]) -> None:
        with self._lock:
            self._pending = (batch + self._pending)[-MAX_PENDING:]
            self._oldest = time.monotonic()

    def _trim_after(self, batch: list[Metric]) -> None:
        from monitoring.services import metrics_trim

        retention = settings.HOTCRM["METRICS_RETENTION"]
        # Trimming costs one indexed lookup and one DELETE; doing it every `every` inserts
        # per model keeps each model within retention + every, never scanning the table.
        every = max(1, min(500, retention // 20))
        self._since_trim.update(m.model_id for m in batch)
        for model_id, count in list(self._since_trim.items()):
            if count >= every:
                self._since_trim[model_id] = 0
                try:
                    metrics_trim(model_id, keep=retention)
                except Exception:
                    logger.exception("Could not trim the metrics of %s", model_id)

    # --- background flushing (gunicorn workers) -----------------------------------------
    def start_background_flush(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metric-flush", daemon=True)
        self._thread.start()

    def stop_background_flush(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._pending:
                close_old_connections()
                self.flush()


def _insert(batch: list[Metric]) -> None:
    """One executemany of a prepared INSERT.

    Hand-written rather than `bulk_create`: the ORM compiles every value of every row
    through the field machinery, which bench/monitoring.py measured at several times the
    cost of the INSERT itself; the values here need only the backend's datetime adaptation.
    """
    from monitoring.models import Metric

    fields = [f for f in Metric._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(Metric._meta.db_table)
    placeholders = ", ".join(["%s"] * len(fields))
    # Table and column names come from the model; every value is a bound parameter.
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
    adapt = connection.ops.adapt_datetimefield_value
    dated = {f.attname for f in fields if f.get_internal_type() == "DateTimeField"}
    rows = [
        [adapt(getattr(m, f.attname)) if f.attname in dated else getattr(m, f.attname) for f in fields]
        for m in batch
    ]
    # Its own transaction even inside a request's atomic block: the metric of a request
    # that later fails must still be stored, and a failed INSERT must not poison the caller.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


_buffer = MetricBuffer()


def metric_buffer() -> MetricBuffer:
    return _buffer


@atexit.register
def _flush_at_exit() -> None:
    try:
        _buffer.flush()
    except Exception:  # the interpreter is going away: say so, do not raise
        logger.exception("Could not flush metrics at exit")
