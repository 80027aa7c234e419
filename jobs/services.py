"""Writes of bulk scoring jobs: creating a job from an upload, scoring a chunk (results, log
rows, row errors, metrics and the done-mark in one transaction), cancelling, and handing
lost chunks to workers again."""

from __future__ import annotations

import csv
import io
import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils import timezone

from core.objects import Objects
from core.write_behind import insert_rows
from hotcrm_ai.errors import ApplicationError, Conflict, InvalidInput
from jobs import inputs, outcomes
from jobs.models import ACTIVE_STATUSES, InputFormat, Job, JobChunk, JobKind, JobRowError, JobStatus
from jobs.recording import logs_bulk_insert
from jobs.scoring import ChunkResult, RowError, object_ids, score_chunk
from jobs.stages import timer
from monitoring.models import Metric
from predictions.features import feature_specs
from predictions.services import resolve_model
from registry.models import MLModel
from registry.selectors import model_get

logger = logging.getLogger(__name__)
# Starts of one chunk (redeliveries, requeues after a stall) before its job is failed.
MAX_ATTEMPTS = 5


def _limits() -> dict:
    return settings.HOTCRM


# --- creating ---------------------------------------------------------------------------

def job_create(*, model_id: str, upload: IO[bytes], file_name: str, size: int, created_by: str,
               id_column: str = "", object_type: str = "", max_error_rate: float = 5.0,
               use_cache: bool = False) -> Job:
    """Check the file against the model, store it as chunks, queue the chunks (as they are
    stored: see _store_and_queue). The size, the model and the header are checked before
    anything is stored or queued: a file refused for them leaves nothing behind."""
    _check_size(size)
    requested = resolve_model(model_id)
    fmt, first, records, header = _upload_open(upload, file_name)
    _check_header(requested, header, id_column)
    job = Job(
        model_id=requested.pk, input_format=fmt, file_name=file_name[:255],
        columns=[] if header.first_is_data else header.columns, id_column=id_column,
        object_type=object_type, max_error_rate=max_error_rate, use_cache=use_cache, created_by=created_by,
    )
    return _store_and_queue(job, ([first] if header.first_is_data else []), records)


def _check_size(size: int) -> None:
    max_bytes = _limits()["JOB_MAX_BYTES"]
    if size > max_bytes:
        raise inputs.TooLarge(f"The file is {size} bytes; the limit is {max_bytes}.")


def _upload_open(upload: IO[bytes], file_name: str) -> tuple[str, bytes, Iterator[list[bytes]], inputs.Header]:
    """The upload's format, its first record, the records after it (in blocks) and its
    header (scoring and outcomes files alike); an empty file is a 400."""
    stream = inputs.open_input(upload, max_bytes=_limits()["JOB_MAX_INPUT_BYTES"])
    fmt, blocks = inputs.open_records(stream, file_name)
    block: list[bytes] | None = []
    while not block:
        block = next(blocks, None)
        if block is None:
            raise InvalidInput("The file is empty.", code="empty_file")
    return fmt, block[0], itertools.chain([block[1:]], blocks), inputs.read_header(block[0], fmt)


def outcome_job_create(*, upload: IO[bytes], file_name: str, size: int, created_by: str,
                       max_error_rate: float = 5.0) -> Job:
    """An outcomes file (objectType, objectId, actual, modelId?) as a job: checked, stored as
    chunks of at most BATCH_LIMIT rows (each recorded as one outcomes batch) and queued."""
    _check_size(size)
    fmt, first, records, header = _upload_open(upload, file_name)
    if missing := outcomes.missing_columns(header.columns):
        where = "header" if not header.first_is_data else "first line"
        raise InvalidInput(f"The file's {where} lacks the column(s) {', '.join(missing)}.", code="missing_column",
                           extra={"columns": missing})
    # id_column: the rows name their objects there (erasure finds them, core/objects.py),
    # each with its own type (the job's type is empty: any).
    job = Job(
        kind=JobKind.OUTCOMES, model_id="", input_format=fmt, file_name=file_name[:255],
        columns=[] if header.first_is_data else header.columns, id_column="objectId", object_type="",
        max_error_rate=max_error_rate, created_by=created_by,
    )
    size_rows = min(_limits()["JOB_CHUNK_ROWS"], _limits()["BATCH_LIMIT"])
    return _store_and_queue(job, ([first] if header.first_is_data else []), records, size=size_rows)


def _check_header(model: MLModel, header: inputs.Header, id_column: str) -> None:
    present = set(header.columns)
    for spec in feature_specs(model):
        if spec.required and spec.name not in present:
            where = "header" if not header.first_is_data else "first line"
            raise InvalidInput(f"The file's {where} lacks the required feature '{spec.name}'.",
                               code="missing_feature", extra={"feature": spec.name})
    if id_column and id_column not in present:
        raise InvalidInput(f"The file has no column '{id_column[:100]}' (idColumn).", code="missing_id_column")


def _chunk_records(head: list[bytes], blocks: Iterator[list[bytes]], size: int) -> Iterator[list[bytes]]:
    """The records in chunks of `size`, taken a block at a time; more than JOB_MAX_ROWS of
    them is a 413, a file with a header and no rows a 400 (both raised where the reading
    gets to them)."""
    max_rows = _limits()["JOB_MAX_ROWS"]
    pending, total = list(head), len(head)
    for block in blocks:
        total += len(block)
        if total > max_rows:
            raise inputs.TooLarge(f"The file holds more than {max_rows} rows.")
        pending += block
        start = 0
        while len(pending) - start >= size:
            yield pending[start:start + size]
            start += size
        pending = pending[start:]
    if pending:
        yield pending
    if not total:
        raise InvalidInput("The file has a header but no rows.", code="empty_file")


def _store_and_queue(job: Job, head: list[bytes], records: Iterator[list[bytes]], *,
                     size: int | None = None) -> Job:
    """Store the records as chunks and queue them. A file of one chunk is stored whole, in
    one transaction, before its chunk is queued. A longer one is queued chunk by chunk as it
    is stored, so the workers score while the upload goes on (storing 1,000,000 rows took
    3 s that no worker used): the job is `uploading` until the last chunk is stored and
    cannot finish before; a file that breaks off or passes a limit on the way (a 400 or 413
    like any refused file) leaves its job failed, saying so, with no input kept."""
    chunks = _chunk_records(head, records, size or _limits()["JOB_CHUNK_ROWS"])
    first = next(chunks)  # a file without rows raises here
    second = next(chunks, None)
    if second is None:
        with transaction.atomic():
            job.rows_total, job.chunks_total = len(first), 1
            job.save(force_insert=True)
            chunk = JobChunk.objects.create(job=job, index=0, first_row=1, row_count=len(first),
                                            input=b"\n".join(first))
        transaction.on_commit(lambda: chunks_dispatch([chunk.pk]))
        return job
    job.uploading = True
    job.save(force_insert=True)
    try:
        for part in itertools.chain([first, second], chunks):
            if not _chunk_store(job, part):
                break  # cancelled or failed meanwhile: nothing more is stored
    except BaseException as exc:
        reason = exc.message if isinstance(exc, ApplicationError) else type(exc).__name__
        try:
            job_fail(job_id=job.pk, error=f"The upload stopped after {job.rows_total} rows: {reason}")
        except Exception:  # the database is gone too: the watchdog fails the job once it is quiet
            logger.exception("Job %s: could not mark its broken upload", job.pk)
        raise
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(uploading=False)
        if Job.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).exists():
            _job_settle(job.pk, timezone.now())  # its chunks may all be done already
        else:
            _inputs_drop(job.pk)  # cancelled while uploading: chunks stored since keep nothing
    job.refresh_from_db()
    return job


def _chunk_store(job: Job, records: list[bytes]) -> bool:
    """One chunk stored, counted in its job (so that rows done never pass rows stored) and
    queued; False when the job is no longer active."""
    now = timezone.now()
    with transaction.atomic():
        if not Job.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).update(
            rows_total=F("rows_total") + len(records), chunks_total=F("chunks_total") + 1, progressed_at=now,
        ):
            return False
        chunk = JobChunk.objects.create(job=job, index=job.chunks_total, first_row=job.rows_total + 1,
                                        row_count=len(records), input=b"\n".join(records))
    job.rows_total += len(records)
    job.chunks_total += 1
    transaction.on_commit(lambda: chunks_dispatch([chunk.pk]))
    return True


def chunks_dispatch(chunk_ids: list[int]) -> None:
    """Queue the chunks. A broker that is down loses nothing: jobs_requeue_stalled sends
    them again once the job has been quiet for JOB_STALL_SECONDS."""
    from hotcrm_ai.celery import app

    try:
        for chunk_id in chunk_ids:
            app.send_task("jobs.score_chunk", (chunk_id,), retry=False)
    except Exception:
        logger.exception("Could not queue %d chunk(s); the stalled-job check will", len(chunk_ids))


# --- scoring ----------------------------------------------------------------------------

def chunk_score(*, chunk_id: int) -> None:
    """Score one chunk, unless it is done or its job is over. Safe to run twice, at once or
    one after the other: only the first commit of a chunk counts."""
    chunk = JobChunk.objects.select_related("job").defer("output").filter(pk=chunk_id).first()
    timer().mark("read_chunk")
    if chunk is None or chunk.is_done or not chunk.job.is_active:
        return
    job = chunk.job
    if chunk.attempts >= MAX_ATTEMPTS:
        # Started that often and never committed: it kills its worker (a poison chunk).
        job_fail(job_id=job.pk, error=f"Chunk {chunk.index} was started {chunk.attempts} times without finishing.")
        return
    _chunk_started(chunk)
    timer().mark("mark_started")
    if job.kind == JobKind.OUTCOMES:
        _outcomes_chunk_record(job, chunk)
        return
    try:
        requested = resolve_model(job.model_id)
    except Exception as exc:  # deleted or deactivated since the job was queued
        job_fail(job_id=job.pk, error=getattr(exc, "message", str(exc)))
        return
    timer().mark("resolve_model")
    with _heartbeat(chunk.pk):
        try:
            result = score_chunk(job, requested, chunk)
            timer().mark("score")
        except (OperationalError, InterfaceError):
            raise  # the database went away: the task retries
        except Exception as exc:
            # A chunk that cannot be scored fails its job at once, rather than being retried
            # forever; the log has the traceback.
            logger.exception("Chunk %s of job %s could not be scored", chunk.index, job.pk)
            job_fail(job_id=job.pk, error=f"Chunk {chunk.index} could not be scored ({type(exc).__name__}).")
            return
        _chunk_commit(job, chunk, result)


@contextmanager
def _heartbeat(chunk_id: int) -> Iterator[None]:
    """Renew the chunk's heartbeat from a thread while it is scored, so the watchdog tells a
    worker that is slow from one that is gone within seconds (jobs_requeue_stalled)."""
    interval = _limits()["JOB_HEARTBEAT_SECONDS"]
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                JobChunk.objects.filter(pk=chunk_id, done_at__isnull=True).update(heartbeat_at=timezone.now())
        except Exception:  # a missed beat costs at most a second run of the chunk
            logger.warning("Chunk %s: heartbeat failed", chunk_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"chunk-{chunk_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)


def _outcomes_chunk_record(job: Job, chunk: JobChunk) -> None:
    """Record an outcomes chunk: its outcomes, results, row errors and done-mark in one
    transaction (outcomes are idempotent too, but a chunk's errors must not be listed twice)."""
    errors: list[RowError] = []
    rows = outcomes.parse_outcome_rows(job, chunk, errors)
    now = timezone.now()
    with transaction.atomic():
        _commit_without_waiting()
        if not _chunk_claim(job, chunk, now):
            transaction.set_rollback(True)
            return
        result = outcomes.record_outcomes(rows, errors)
        JobChunk.objects.filter(pk=chunk.pk).update(output=result.output, rows_failed=len(result.errors))
        if not _chunk_count(job, result.rows_done, result.errors, now):
            transaction.set_rollback(True)


def _commit_without_waiting() -> None:
    """Inside a chunk's transaction on PostgreSQL: its commit does not wait for the WAL to
    reach the disk (5 ms per commit here, and a chunk's COPY makes megabytes of WAL). Only a
    crash of the database server itself (not a worker's, nor a clean restart) can lose such a
    commit, and then all of it: the chunk is unfinished again, its task acknowledged, and the
    watchdog (jobs_requeue_stalled) queues it again; no row is stored twice or lost."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _chunk_claim(job: Job, chunk: JobChunk, now, **done: object) -> bool:
    """Inside the chunk's transaction, first: mark it done (dropping its input: kept no
    longer than needed, it names CRM objects; `done`: more fields, its results) unless it
    is, and check its job goes on. A second run of the chunk stops here (on PostgreSQL it
    waits for the first run's commit and then finds the chunk done). The job's row is read,
    not locked: `_chunk_count` updates it last."""
    if not JobChunk.objects.filter(pk=chunk.pk, done_at__isnull=True).update(done_at=now, input=b"", **done):
        return False
    return Job.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).exists()


def _chunk_count(job: Job, done: int, errors: list[RowError], now) -> bool:
    """Last in the chunk's transaction: its rows and errors counted, the job settled. The
    job's row lock is held only from here to the commit, so workers committing chunks of
    one job at once wait for each other's counters, not for each other's COPYs. False when
    the job was cancelled or failed meanwhile (the caller keeps nothing)."""
    JobRowError.objects.bulk_create([
        JobRowError(job_id=job.pk, row=e.row, object_id=e.object_id, code=e.code[:50], message=e.message[:500])
        for e in errors
    ], batch_size=1000)
    if not Job.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).update(
        rows_done=F("rows_done") + done, rows_failed=F("rows_failed") + len(errors),
        chunks_done=F("chunks_done") + 1, progressed_at=now,
    ):
        return False
    _job_settle(job.pk, now)
    return True


def _chunk_started(chunk: JobChunk) -> None:
    """The chunk's start (its heartbeat and attempts) and the job's progress, and the job
    running from its first chunk: one transaction, two statements."""
    now = timezone.now()
    first = When(status=JobStatus.QUEUED, then=Value(now, output_field=DateTimeField()))
    with transaction.atomic():
        _commit_without_waiting()
        JobChunk.objects.filter(pk=chunk.pk).update(started_at=now, heartbeat_at=now, attempts=F("attempts") + 1)
        Job.objects.filter(pk=chunk.job_id).update(
            progressed_at=now, started_at=Case(first, default=F("started_at")),
            status=Case(When(status=JobStatus.QUEUED, then=Value(JobStatus.RUNNING)), default=F("status")),
        )


def _chunk_commit(job: Job, chunk: JobChunk, result: ChunkResult) -> None:
    now = timezone.now()
    with transaction.atomic():
        _commit_without_waiting()
        if not _chunk_claim(job, chunk, now, output=result.output, rows_failed=len(result.errors)):
            transaction.set_rollback(True)  # done already, or its job is over: keep nothing
            return
        timer().mark("claim_store_output")
        logs_bulk_insert(result.logs)
        timer().mark("copy_logs")
        _metrics_insert(result, now)
        timer().mark("metrics")
        if not _chunk_count(job, result.scored, result.errors, now):
            transaction.set_rollback(True)  # cancelled or failed meanwhile: keep nothing
            return
        timer().mark("count_job")
        if result.result_columns and not job.result_columns:
            Job.objects.filter(pk=job.pk, result_columns=[]).update(result_columns=result.result_columns)
    timer().mark("commit")


def _metrics_insert(result: ChunkResult, now) -> None:
    """One metric record per model and arm per chunk, carrying its row count: stats count
    every job row, and a million-row job adds hundreds of metric records, not a million."""
    records = [
        Metric(model_id=g.model.pk, model_version=g.model.version, timestamp=now, latency_ms=result.latency_ms,
               confidence=(g.confidence_sum / g.confidence_rows) if g.confidence_rows else None,
               cached=g.cached, success=True, provider=g.model.provider, ab_arm=g.arm, rows=g.rows,
               timed=False)  # a chunk is no request: its rows count, its per-row time is no latency
        for g in result.metrics
    ]
    fields = [f for f in Metric._meta.concrete_fields if not f.primary_key]
    insert_rows(Metric, fields, [tuple(getattr(m, f.attname) for f in fields) for m in records])


def _job_settle(job_id, now) -> None:
    """Inside the chunk's transaction: fail the job once too many rows failed, finish it
    once every chunk is done."""
    job = Job.objects.get(pk=job_id)
    if job.uploading:
        return  # its rows are not all stored: neither the error rate nor the end is known
    if job.error_rate_exceeded():
        Job.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, finished_at=now,
            error=f"{job.rows_failed} of {job.rows_total} rows failed, more than maxErrorRate "
                  f"({job.max_error_rate:g}%); see the errors.",
        )
    elif job.chunks_done >= job.chunks_total:
        Job.objects.filter(pk=job_id).update(status=JobStatus.SUCCEEDED, finished_at=now)


# --- ending -------------------------------------------------------------------------------

def job_cancel(*, job: Job) -> Job:
    if not Job.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(),
    ):
        job.refresh_from_db()
        raise Conflict(f"The job is already {job.status}.", code="job_finished")
    _inputs_drop(job.pk)
    job.refresh_from_db()
    return job


def job_fail(*, job_id, error: str) -> None:
    if Job.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).update(
        status=JobStatus.FAILED, finished_at=timezone.now(), error=error[:2000],
    ):
        _inputs_drop(job_id)


def _inputs_drop(job_id) -> None:
    """A job that will not go on needs its uploaded rows no more."""
    JobChunk.objects.filter(job_id=job_id, done_at__isnull=True).update(input=b"")


def _jobs_naming(objects: Objects):
    """Jobs whose rows may name the objects: of their type, or of none, with an id column."""
    return Job.objects.filter(object_type__in=[objects.type, ""]).exclude(id_column="")


def _holds_any(data: bytes, objects: Objects) -> bool:
    return any(object_id.encode() in data for object_id in objects.ids)


def job_results_erase(objects: Objects) -> int:
    """Remove the objects' lines from every stored results file that may name them; returns
    how many lines went. For erasing objects on request (core/objects.py)."""
    removed = 0
    ids = set(objects.ids)
    chunks = JobChunk.objects.filter(job__in=_jobs_naming(objects), done_at__isnull=False).only("pk", "output")
    for chunk in chunks.iterator(chunk_size=8):
        data = bytes(chunk.output)
        if not _holds_any(data, objects):
            continue
        records = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        kept = [r for r in records if r and r[0] not in ids]
        if len(kept) == len(records):
            continue
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        JobChunk.objects.filter(pk=chunk.pk).update(output=out.getvalue().encode("utf-8"))
        removed += len(records) - len(kept)
    return removed


def job_inputs_erase(objects: Objects) -> int:
    """Blank the objects' rows in the input of chunks not scored yet; returns how many. A
    blanked row stays in its place (the rows after it keep their numbers in the errors) and
    is scored as a failed row that names nothing."""
    blanked = 0
    ids = set(objects.ids)
    chunks = (JobChunk.objects.filter(job__in=_jobs_naming(objects), done_at__isnull=True).select_related("job")
              .only("pk", "input", "job__input_format", "job__columns", "job__id_column"))
    for chunk in chunks.iterator(chunk_size=8):
        data = bytes(chunk.input)
        if not _holds_any(data, objects):
            continue
        records = inputs.split_chunk(data, chunk.job.input_format)
        kept = [b"" if _record_names(chunk.job, record, ids) else record for record in records]
        count = sum(1 for a, b in zip(records, kept, strict=True) if a is not b)
        if count:
            JobChunk.objects.filter(pk=chunk.pk).update(input=b"\n".join(kept))
            blanked += count
    return blanked


def _record_names(job: Job, record: bytes, ids: set[str]) -> bool:
    """Whether an input record's id column holds one of `ids`, read as scoring reads it."""
    try:
        text = record.decode("utf-8")
        if job.input_format == InputFormat.CSV:
            fields = inputs.parse_csv_record(text)
            value = fields[job.columns.index(job.id_column)] if len(fields) == len(job.columns) else None
        else:
            parsed = inputs.parse_json_record(text)
            value = parsed.get(job.id_column) if isinstance(parsed, dict) else None
    except (ValueError, csv.Error, StopIteration, RecursionError):
        return any(i.encode() in record for i in ids)  # unreadable: blanked when it holds an id at all
    return value is not None and object_ids([value])[0] in ids


def jobs_requeue_stalled() -> int:
    """Queue again the chunks whose tasks were lost. A started chunk whose heartbeat stopped
    for JOB_HEARTBEAT_TIMEOUT lost its worker (killed mid-chunk; sooner than Redis's
    visibility timeout redelivers it); every unfinished chunk of a job quiet for
    JOB_STALL_SECONDS lost its queued tasks with the broker itself (a Redis restarted without
    persistence), or its acknowledged work with a PostgreSQL crash (commits without WAL flush):
    the last resort, since both brokers redeliver what a dead worker had taken.
    A chunk queued twice is scored once. Returns how many chunks were queued."""
    queued = _requeue_dead_chunks()
    cutoff = timezone.now() - timedelta(seconds=_limits()["JOB_STALL_SECONDS"])
    # Every stored chunk moves a job on while it uploads: quiet that long, its upload died
    # with its web worker, and the rest of the file will never come.
    for job_id in Job.objects.filter(status__in=ACTIVE_STATUSES, uploading=True,
                                     progressed_at__lt=cutoff).values_list("pk", flat=True):
        job_fail(job_id=job_id, error="The upload stopped before the whole file was stored.")
    for job_id in Job.objects.filter(status__in=ACTIVE_STATUSES, progressed_at__lt=cutoff).values_list("pk", flat=True):
        if not Job.objects.filter(pk=job_id, progressed_at__lt=cutoff).update(progressed_at=timezone.now()):
            continue  # another check took it
        ids = list(JobChunk.objects.filter(job_id=job_id, done_at__isnull=True).values_list("pk", flat=True))
        logger.warning("Job %s made no progress for %s s: queueing its %d open chunk(s) again",
                       job_id, _limits()["JOB_STALL_SECONDS"], len(ids))
        chunks_dispatch(ids)
        queued += len(ids)
    return queued


def _requeue_dead_chunks() -> int:
    now = timezone.now()
    cutoff = now - timedelta(seconds=_limits()["JOB_HEARTBEAT_TIMEOUT"])
    dead = []
    for job_id in Job.objects.filter(status__in=ACTIVE_STATUSES).values_list("pk", flat=True):
        for chunk_id in JobChunk.objects.filter(job_id=job_id, done_at__isnull=True,
                                                heartbeat_at__lt=cutoff).values_list("pk", flat=True):
            # The conditional update claims it: two watchdogs never queue one chunk twice.
            if JobChunk.objects.filter(pk=chunk_id, done_at__isnull=True, heartbeat_at__lt=cutoff).update(
                    heartbeat_at=now):
                dead.append(chunk_id)
    if dead:
        logger.warning("Queueing %d chunk(s) again whose worker stopped beating for %s s", len(dead),
                       _limits()["JOB_HEARTBEAT_TIMEOUT"])
        chunks_dispatch(dead)
    return len(dead)


def model_for_job(job: Job) -> MLModel:
    return model_get(job.model_id)
