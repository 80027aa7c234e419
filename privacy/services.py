"""Erasing what is stored about CRM objects on request, and removing data past its retention.

Erasure goes through every place registered in core/objects.py, in one transaction, and
leaves an audit entry (privacy.models.Erasure) with who, when and the counts, never the id.

Retention deletes in small batches, each its own short statement (autocommit), with a pause
between batches: a purge of a million rows never holds a lock for longer than one batch,
so predictions served meanwhile wait at most that long for the log table (bench/purge.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from core.objects import Objects, object_erasers
from core.validation import storable_text_error
from core.write_behind import flush_all
from hotcrm_ai.errors import InvalidInput
from jobs.models import ACTIVE_STATUSES, Job, JobChunk, JobRowError
from predictions.models import PredictionLog
from privacy.models import Erasure
from registry.audit import Actor

logger = logging.getLogger(__name__)

# The longest object type and id a prediction's context may carry (the log's columns).
OBJECT_TYPE_LENGTH = 100
OBJECT_ID_LENGTH = 200


# --- erasure ------------------------------------------------------------------------------

def objects_check(object_type: str, object_ids: Collection[str]) -> None:
    """An object type and ids from outside: non-empty storable text within the lengths the
    log stores (nothing longer can have been stored), else a 400 that never echoes them."""
    if not object_type or len(object_type) > OBJECT_TYPE_LENGTH:
        raise InvalidInput(f"objectType must be 1 to {OBJECT_TYPE_LENGTH} characters.", code="invalid_object_type")
    if storable_text_error(object_type, "objectType"):
        raise InvalidInput("objectType contains a NUL character or a lone surrogate.", code="invalid_object_type")
    for object_id in object_ids:
        if not object_id or len(object_id) > OBJECT_ID_LENGTH:
            raise InvalidInput(f"objectId must be 1 to {OBJECT_ID_LENGTH} characters.", code="invalid_object_id")
        if storable_text_error(object_id, "objectId"):
            raise InvalidInput("objectId contains a NUL character or a lone surrogate.", code="invalid_object_id")


def objects_erase(*, object_type: str, object_ids: Collection[str], actor: Actor) -> Erasure:
    """Remove every stored row that names one of the objects, from every registered place,
    in one transaction, and audit it. Objects nothing names erase nothing (counts of 0)."""
    objects_check(object_type, object_ids)
    objects = Objects(object_type, sorted(set(object_ids)))
    flush_all()  # this process's buffered log rows are stored first, then erased with the rest
    with transaction.atomic():
        counts = {label: erase(objects) for label, erase in object_erasers().items()}
        return Erasure.objects.create(
            object_type=object_type, objects_requested=len(objects.ids), counts=counts,
            total=sum(counts.values()), actor=actor.name[:200], source=actor.source, erased_at=timezone.now(),
        )


# --- retention ----------------------------------------------------------------------------

@dataclass
class PurgeResult:
    removed: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def _retention() -> dict[str, Any]:
    return settings.HOTCRM


def retention_cutoffs(now: datetime) -> dict[str, datetime]:
    days = _retention()
    return {
        "predictionLogs": now - timedelta(days=days["PREDICTION_LOG_RETENTION_DAYS"]),
        "outcomeLogs": now - timedelta(days=days["OUTCOME_RETENTION_DAYS"]),
        "jobs": now - timedelta(days=days["JOB_RETENTION_DAYS"]),
    }


def expired_purge(*, now: datetime | None = None, batch_rows: int | None = None, pause: float | None = None,
                  on_batch: Callable[[int], None] | None = None) -> PurgeResult:
    """Remove prediction-log rows past PREDICTION_LOG_RETENTION_DAYS (rows with an outcome:
    OUTCOME_RETENTION_DAYS) and finished jobs past JOB_RETENTION_DAYS. Safe to run twice,
    even at once: a row deleted by one run is simply not found by the other."""
    started = time.monotonic()
    cutoffs = retention_cutoffs(now or timezone.now())
    batch_rows = batch_rows or _retention()["RETENTION_BATCH_ROWS"]
    pause = _retention()["RETENTION_BATCH_PAUSE"] if pause is None else pause
    result = PurgeResult()
    purge = _Batches(result, batch_rows, pause, on_batch)
    result.removed["predictionLogs"] = purge.logs(
        PredictionLog.objects.filter(actual__isnull=True, created_at__lt=cutoffs["predictionLogs"]))
    result.removed["outcomeLogs"] = purge.logs(
        PredictionLog.objects.filter(actual__isnull=False, created_at__lt=cutoffs["outcomeLogs"]))
    result.removed["jobs"] = purge.jobs(
        Job.objects.exclude(status__in=ACTIVE_STATUSES).filter(finished_at__lt=cutoffs["jobs"]))
    result.seconds = round(time.monotonic() - started, 1)
    logger.info("Retention: removed %s in %d batches, %.1f s", result.removed, result.batches, result.seconds)
    return result


@dataclass
class _Batches:
    result: PurgeResult
    rows: int
    pause: float
    on_batch: Callable[[int], None] | None

    def logs(self, expired: models.QuerySet[PredictionLog]) -> int:
        """Oldest first, `rows` at a time, resuming each batch where the last one ended
        (rows kept in between, such as outcomes, are not read again)."""
        removed, since = 0, None
        while True:
            page = expired if since is None else expired.filter(created_at__gte=since)
            batch = list(page.order_by("created_at").values_list("pk", "created_at")[:self.rows])
            if not batch:
                return removed
            removed += self._delete(PredictionLog.objects.filter(pk__in=[pk for pk, _ in batch]))
            since = batch[-1][1]

    def jobs(self, expired: models.QuerySet[Job]) -> int:
        """A job's row errors and chunks (results files) in batches, then the job."""
        removed = 0
        for job_id in list(expired.values_list("pk", flat=True)):
            self._drain(JobRowError.objects.filter(job_id=job_id), self.rows)
            # A chunk holds up to JOB_CHUNK_ROWS result lines: a few per statement.
            self._drain(JobChunk.objects.filter(job_id=job_id), max(1, self.rows // 1000))
            removed += self._delete(Job.objects.filter(pk=job_id))
        return removed

    def _drain(self, rows: models.QuerySet, size: int) -> None:
        while ids := list(rows.values_list("pk", flat=True)[:size]):
            self._delete(rows.model.objects.filter(pk__in=ids))

    def _delete(self, rows: models.QuerySet) -> int:
        deleted = rows.delete()[0]
        self.result.batches += 1
        if self.on_batch is not None:
            self.on_batch(deleted)
        if self.pause:
            time.sleep(self.pause)  # the lock is free meanwhile: requests' writes go first
        return deleted
