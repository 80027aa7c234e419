"""Bulk scoring jobs: a file split into chunks that any worker on any machine can score.

Inputs and results live in the database (never on one machine's disk): each chunk holds its
input rows as they came and, once scored, its results as CSV lines in input order. A chunk's
results, its prediction-log rows, its row errors and its done-mark commit in one transaction,
so a chunk scored twice (a redelivered task) stores nothing twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class InputFormat(models.TextChoices):
    CSV = "csv"
    JSONL = "jsonl"


class JobKind(models.TextChoices):
    SCORING = "scoring"  # rows of features in, predictions out
    OUTCOMES = "outcomes"  # rows of objectType, objectId, actual (modelId) in: outcomes by object


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=JobKind.choices, default=JobKind.SCORING)
    # The model scoring the rows; an outcomes job names none (its rows may).
    model_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    input_format = models.CharField(max_length=10, choices=InputFormat.choices)
    file_name = models.CharField(max_length=255, blank=True)
    # The CSV header (JSON Lines: empty); results name the id column first.
    columns = models.JSONField(default=list, blank=True)
    id_column = models.CharField(max_length=200, blank=True)
    object_type = models.CharField(max_length=100, blank=True)
    max_error_rate = models.FloatField(default=5.0)
    use_cache = models.BooleanField(default=False)
    # The flattened prediction fields of the results file, fixed by the first chunk scored.
    result_columns = models.JSONField(default=list, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    # True while a file of several chunks is still being stored (its stored chunks are queued
    # already): the job cannot finish, nor fail for its error rate, before the last one.
    uploading = models.BooleanField(default=False)
    rows_done = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a chunk last started or finished: a job quiet for longer has lost its tasks.
    progressed_at = models.DateTimeField(default=timezone.now)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_by", "-created_at"], name="job_owner_time"),
                   models.Index(fields=["status"], name="job_status")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="job_status_is_known"),
            models.CheckConstraint(condition=Q(kind__in=JobKind.values), name="job_kind_is_known"),
            models.CheckConstraint(condition=Q(rows_done__lte=models.F("rows_total")), name="job_rows_done_lte_total"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.model_id} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def rows_processed(self) -> int:
        return self.rows_done + self.rows_failed

    def progress(self) -> float:
        if self.status == JobStatus.SUCCEEDED or not self.rows_total:
            return 100.0 if self.status == JobStatus.SUCCEEDED else 0.0
        return round(100 * self.rows_processed / self.rows_total, 1)

    def rows_per_second(self, now: datetime | None = None) -> float | None:
        if self.started_at is None or not self.rows_processed:
            return None
        end = self.finished_at or now or timezone.now()
        seconds = (end - self.started_at).total_seconds()
        return round(self.rows_processed / seconds, 1) if seconds > 0 else None

    def eta_seconds(self, now: datetime | None = None) -> float | None:
        if not self.is_active:
            return 0.0 if self.status == JobStatus.SUCCEEDED else None
        rate = self.rows_per_second(now)
        if not rate:
            return None
        return round((self.rows_total - self.rows_processed) / rate, 1)

    def error_rate_exceeded(self) -> bool:
        return self.rows_total > 0 and 100 * self.rows_failed / self.rows_total > self.max_error_rate


class JobChunk(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_row = models.PositiveIntegerField(help_text="1-based number of its first data row in the file.")
    row_count = models.PositiveIntegerField()
    # The rows as they came (CSV records or JSON lines, newline-separated, UTF-8 bytes).
    input = models.BinaryField()
    # Results as CSV lines (no header), in input order; empty until done.
    output = models.BinaryField(default=b"", blank=True)
    rows_failed = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    # Renewed every JOB_HEARTBEAT_SECONDS while a worker scores the chunk: an unfinished chunk
    # whose heartbeat is older than JOB_HEARTBEAT_TIMEOUT lost its worker and is queued again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="job_chunk_index_unique")]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.index}"

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class JobRowError(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField()
    object_id = models.CharField(max_length=200, blank=True)
    code = models.CharField(max_length=50)
    message = models.CharField(max_length=500)

    class Meta:
        ordering = ["job", "row"]
        indexes = [models.Index(fields=["job", "row"], name="job_error_row")]

    def __str__(self) -> str:
        return f"{self.job_id} row {self.row}: {self.code}"
