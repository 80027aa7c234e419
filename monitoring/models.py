from __future__ import annotations

from django.db import models

PREDICTION = "prediction"
SHADOW = "shadow"  # registry.models.AbArm.SHADOW: a challenger's shadow run, never served


class MetricQuerySet(models.QuerySet):
    def served(self) -> MetricQuerySet:
        """Predictions answered to callers: a challenger's shadow runs are counted apart."""
        return self.filter(kind=PREDICTION).exclude(ab_arm=SHADOW)

    def shadow(self) -> MetricQuerySet:
        return self.filter(kind=PREDICTION, ab_arm=SHADOW)


class Metric(models.Model):
    """The rows of one request that one model answered on one arm alike (cached or not,
    answered or failed), or a bulk job chunk's rows of one model and arm."""

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
    # How many predictions this record stands for: a request's rows of one kind, or a bulk
    # job chunk's rows of one model and arm. Counts (predictions, errors, cache hits) weigh
    # every record by it.
    rows = models.PositiveIntegerField(default=1)
    # This record carries its request's latency: latency figures (percentiles, mean) are
    # over timed records, one per request for each model and arm that answered rows of it,
    # so a 1,000-row batch is one observation, not 1,000. The request's other records count
    # rows only. A bulk job chunk is no request: not timed (its latency is per row).
    timed = models.BooleanField(default=True)

    objects = MetricQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["model_id", "-timestamp"], name="metric_model_time"),
            # Retention finds a model's N-th newest metric by id without a table scan.
            models.Index(fields=["model_id", "-id"], name="metric_model_id"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.timestamp:%Y-%m-%d %H:%M:%S} {self.latency_ms:.1f} ms"


class DriftReference(models.Model):
    """Inputs an admin uploaded as what a model's inputs should look like: its drift is
    judged against them (before its explanationBackground or training-data sample)."""

    model = models.OneToOneField("registry.MLModel", on_delete=models.CASCADE, primary_key=True,
                                 related_name="drift_reference")
    rows = models.JSONField()  # feature rows, each validated against the model's featureSchema
    row_count = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField()
    uploaded_by = models.CharField(max_length=200)  # admin user, or token:NAME
    source = models.CharField(max_length=10)  # "json" or "csv"

    def __str__(self) -> str:
        return f"Drift reference of {self.model_id} ({self.row_count} rows)"

    def columns(self) -> dict[str, list]:
        """The rows as one list of values per feature (the form drift tests take)."""
        return rows_to_columns(self.rows)


def rows_to_columns(rows: list[dict]) -> dict[str, list]:
    columns: dict[str, list] = {}
    for row in rows:
        for name, value in row.items():
            if value is not None:
                columns.setdefault(name, []).append(value)
    return columns
