from __future__ import annotations

from django.db import models


class Metric(models.Model):
    """One served request: a prediction (or explanation), a cache hit, or a failure."""

    model_id = models.CharField(max_length=100)
    model_version = models.CharField(max_length=50, blank=True)
    timestamp = models.DateTimeField(db_index=True)
    latency_ms = models.FloatField()
    confidence = models.FloatField(null=True, blank=True)
    cached = models.BooleanField(default=False)
    success = models.BooleanField(default=True)
    error = models.CharField(max_length=500, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    provider = models.CharField(max_length=20, blank=True)
    ab_arm = models.CharField(max_length=20, blank=True)
    kind = models.CharField(max_length=20, default="prediction")
    # How many predictions this record stands for: 1, or a bulk job chunk's rows of one
    # model and arm (latency then per row). Stats weigh every record by it.
    rows = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [
            models.Index(fields=["model_id", "-timestamp"], name="metric_model_time"),
            # Retention finds a model's N-th newest metric by id without a table scan.
            models.Index(fields=["model_id", "-id"], name="metric_model_id"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.timestamp:%Y-%m-%d %H:%M:%S} {self.latency_ms:.1f} ms"
