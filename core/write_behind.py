"""Per-process write-behind buffers: a request only appends its rows to a list here
(microseconds); the list reaches the shared database as ONE multi-row INSERT once it holds
`METRICS_BUFFER_SIZE` rows or its oldest row is older than `METRICS_FLUSH_INTERVAL` seconds:
after the response of the request that finds it so (core.after_response), from a background
thread in every gunicorn worker (an idle worker's rows), before this process reads them back
(stats, reports, feedback), and at exit (atexit and gunicorn's `worker_exit` hook). Without
a background thread (runserver, management commands, tests of the buffer) the request that
finds the buffer due flushes it at once. With one, a request flushes before answering only
when the buffer has grown to `BACKPRESSURE` times its size (the store is slower than the
traffic). Nothing lives only in process memory for longer than the interval while the
database answers.

Each app registers its buffers (`register`): metrics in monitoring.recording, prediction
log rows in predictions.recording.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import orjson
from django.conf import settings
from django.db import (
    DataError,
    IntegrityError,
    close_old_connections,
    connections,
    models,
    router,
    transaction,
)
from prometheus_client import Counter

from core.after_response import on_every_response

logger = logging.getLogger(__name__)

# While the database is unreachable records wait here; beyond this many the oldest go.
MAX_PENDING = 50_000
# With a background flusher a request flushes only when this many times the buffer size wait.
BACKPRESSURE = 20


# Rows a database refuses for what they hold, not because it is away.
UNSTORABLE_ROWS = Counter(
    "hotcrm_unstorable_rows", "Buffered rows set aside because the database refuses them (the rest are stored).",
    ["kind"],
)


def row_fault(exc: BaseException) -> bool:
    """True when the database refused a value (encoding, NUL, type, range, constraint), so
    the fault is in a row; false when the store itself failed (connection, missing table)."""
    return isinstance(exc, UnicodeError | ValueError | TypeError | OverflowError | DataError | IntegrityError)


class WriteBuffer:
    """Rows waiting for one multi-row INSERT; subclasses say how they are stored."""

    what = "row"

    def __init__(self) -> None:
        self._pending: list = []
        self._rows = 0  # rows in `_pending` (an item may hold several: see `rows_in`)
        self._oldest = 0.0  # monotonic time the oldest pending record arrived
        self._retry_at = 0.0  # monotonic time before which a refused store is not retried
        self._lock = threading.Lock()
        # Serialises flushes so two threads never insert the same records.
        self._flush_lock = threading.Lock()
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

    # --- items and rows -----------------------------------------------------------------
    # A pending item is one row unless a subclass says otherwise: the prediction log queues
    # a request's rows as one item of columns (predictions.recording.LogColumns).
    def rows_in(self, items: list) -> int:
        """How many rows `items` hold."""
        return len(items)

    def split(self, items: list) -> list:
        """`items` as one item per row (a refused store is retried row by row)."""
        return items

    # --- writing ------------------------------------------------------------------------
    def add(self, rows: list) -> None:
        self._add(rows, self.rows_in(rows))

    def _add(self, items: list, rows: int) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._oldest = now
            self._pending.extend(items)
            self._rows += rows
            if self._thread is not None:
                due = self._rows >= BACKPRESSURE * self.max_size
            else:
                due = self._full_or_old(now)
        if due:
            self.flush()

    def due(self) -> bool:
        """Full, or holding a record older than the interval (and not just refused)."""
        now = time.monotonic()
        return bool(self._pending) and now >= self._retry_at and self._full_or_old(now)

    def _full_or_old(self, now: float) -> bool:
        return self._rows >= self.max_size or now - self._oldest >= self.interval

    def flush(self) -> int:
        """Store every pending record in one INSERT; returns how many rows were stored."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending, self._rows = self._pending, [], 0
            if not batch:
                return 0
            try:
                self.store(batch)
            except Exception as exc:
                if not row_fault(exc):  # the store itself failed: keep everything for later
                    self.store_failed(batch)
                    self._requeue(batch)
                    return 0
                batch = self._store_each(self.split(batch))
            self.stored(batch)
            return self.rows_in(batch)

    def _store_each(self, batch: list) -> list:
        """A row of the batch cannot be stored: store the rows one by one, set aside the
        ones that cannot be (counted, logged once each), keep the rest. Without this one bad
        row was put back with its batch forever and every later row of the process was lost."""
        stored = []
        for i, row in enumerate(batch):
            try:
                self.store([row])
            except Exception as exc:
                if not row_fault(exc):  # the store went away meanwhile: keep the rest for later
                    self.store_failed(batch[i:])
                    self._requeue(batch[i:])
                    break
                UNSTORABLE_ROWS.labels(self.what).inc()
                logger.error("Set aside a %s that cannot be stored (%s: %s)", self.what,
                             type(exc).__name__, str(exc)[:200])
            else:
                stored.append(row)
        return stored

    def store(self, batch: list) -> None:
        raise NotImplementedError

    def store_failed(self, batch: list) -> None:
        logger.exception("Could not store %d %s(s); keeping them for the next flush", len(batch), self.what)

    def stored(self, batch: list) -> None:
        """After a successful store (metrics trim to their retention here)."""

    def discard(self) -> None:
        with self._lock:
            self._pending, self._rows = [], 0

    def pending(self) -> int:
        """Rows waiting for the next flush."""
        return self._rows

    def _requeue(self, batch: list) -> None:
        with self._lock:
            pending = batch + self._pending
            rows = self.rows_in(pending)
            if rows > MAX_PENDING:
                logger.error("Dropping the %d oldest %s(s): more than %d wait for the database",
                             rows - MAX_PENDING, self.what, MAX_PENDING)
                pending = self.split(pending)[-MAX_PENDING:]
                rows = MAX_PENDING
            self._pending, self._rows = pending, rows
            self._oldest = time.monotonic()
            # After-response flushes wait an interval before trying a failing store again.
            self._retry_at = self._oldest + self.interval

    # --- background flushing (gunicorn workers) -----------------------------------------
    def start_background_flush(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.what}-flush", daemon=True)
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


def insert_rows(model: type[models.Model], fields: Sequence[models.Field], rows: Sequence[tuple],
                *, durable: bool = True) -> None:
    """One executemany of `rows` (Python values in `fields` order) into `model`'s table,
    each value prepared as its field's `get_db_prep_save` would, but only the columns that
    need it: datetimes (rows queued by one request share their timestamp: adapted once),
    JSON, and UUIDs. `durable=False` lets PostgreSQL commit without waiting for the WAL.

    Hand-written rather than `bulk_create`: the ORM compiles every value of every row
    through the field machinery, which was several times the cost of the INSERT itself
    (bench/monitoring.py; a 1,000-row log batch: 60 ms with bulk_create on SQLite, 35 ms
    with per-field preparation, bench/profiles/).
    """
    if not rows:
        return
    using = router.db_for_write(model)
    conn = connections[using]
    preparers = [(i, _preparer(f, conn)) for i, f in enumerate(fields)]
    prepare = [(i, p) for i, p in preparers if p is not None]
    values = []
    for row in rows:
        value = list(row)
        for i, p in prepare:
            value[i] = p(value[i])
        values.append(value)
    quote = conn.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Table and column names come from the model; every value is a bound parameter.
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    # Its own transaction even inside a request's atomic block: the rows of a request that
    # later fails must still be stored, and a failed INSERT must not poison the caller.
    with transaction.atomic(using=using), conn.cursor() as cursor:
        if not durable and conn.vendor == "postgresql":
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.executemany(sql, values)


def _preparer(field: models.Field, conn: Any) -> Callable[[Any], Any] | None:
    """How `insert_rows` prepares one column's values (None: as they are)."""
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        adapted: dict[Any, Any] = {}

        def when(value: Any) -> Any:
            if value is None:
                return None
            if value not in adapted:
                adapted[value] = conn.ops.adapt_datetimefield_value(value)
            return adapted[value]

        return when
    if kind == "JSONField":
        encoder = cast(models.JSONField, field).encoder
        if encoder is not None:
            return lambda value: None if value is None else conn.ops.adapt_json_value(value, encoder)
        if conn.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return lambda value: None if value is None else Jsonb(value, dumps=json_text)

        def document(value: Any) -> Any:
            return None if value is None else json_text(value)

        return document
    if kind == "UUIDField":
        native = conn.features.has_native_uuid_field

        def uuid(value: Any) -> Any:
            # Our ids are canonical strings already (predictions.ids): no UUID round trip.
            if isinstance(value, str) and len(value) == 36 and value.islower():
                return value if native else value.replace("-", "")
            return field.get_db_prep_value(value, conn)

        return uuid
    return None


def json_text(value: Any) -> str:
    """A JSON document as the database stores it, written by orjson (the standard library's
    encoder was most of a log row's preparation); what orjson refuses (integers past 64
    bits, keys that are not strings) goes through the standard library as before."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value)


B = TypeVar("B", bound=WriteBuffer)
_buffers: list[WriteBuffer] = []


def register(buffer: B) -> B:
    """Add an app's buffer to those flushed after responses, in the background and at exit."""
    _buffers.append(buffer)
    return buffer


def write_buffers() -> list[WriteBuffer]:
    """Every write-behind buffer of this process, in the order they were registered."""
    return list(_buffers)


@on_every_response
def flush_due_after_response() -> None:
    """A busy worker stores its due rows here, after gunicorn has written the response:
    under load its background thread can go without the GIL for seconds (the request
    thread releases and retakes it around every database and socket call), so it only
    covers idle workers."""
    for buffer in write_buffers():
        if buffer._thread is not None and buffer.due():  # without a thread `add` flushes
            buffer.flush()


def start_background_flushes() -> None:
    for buffer in write_buffers():
        buffer.start_background_flush()


def stop_and_flush_all() -> None:
    for buffer in write_buffers():
        buffer.stop_background_flush()
        buffer.flush()


@atexit.register
def _flush_at_exit() -> None:
    for buffer in write_buffers():
        try:
            buffer.flush()
        except Exception:  # the interpreter is going away: say so, do not raise
            logger.exception("Could not flush %ss at exit", buffer.what)


def flush_all() -> None:
    """Store this process's buffered rows now: before reading them back (stats, reports)."""
    for buffer in write_buffers():
        buffer.flush()
