from __future__ import annotations

import uuid

from django.db import models


class PredictionLog(models.Model):
    """Every answered prediction with its context: the ground for feedback, A/B outcomes,
    drift and analytics questions."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model_id = models.CharField(max_length=100)
    model_version = models.CharField(max_length=50)
    requested_model_id = models.CharField(max_length=100)
    ab_arm = models.CharField(max_length=20, blank=True)
    provider = models.CharField(max_length=20)
    features = models.JSONField()
    prediction = models.JSONField()
    # The class / risk / sentiment label, when the model gives one, for cheap grouping.
    label = models.CharField(max_length=50, blank=True)
    confidence = models.FloatField(null=True)
    cached = models.BooleanField(default=False)
    shadow = models.BooleanField(default=False)
    user_id = models.CharField(max_length=200, blank=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_index=True)
    actual = models.JSONField(null=True, blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["model_id", "-created_at"], name="predlog_model_time"),
            models.Index(fields=["object_type", "object_id"], name="predlog_object"),
            # Live accuracy and A/B verdicts read only the rows with an outcome: a partial
            # index keeps that read small however many predictions are logged (a model with
            # a million logged rows: 300 ms -> milliseconds for its stats).
            models.Index(fields=["model_id", "created_at"], condition=models.Q(actual__isnull=False),
                         name="predlog_outcomes"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.model_id}"
