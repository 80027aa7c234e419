"""The monitoring API's response shapes. Each builds its endpoint's body from a selector's
result (fields the selector does not give are left out) and documents it in the schema."""

from __future__ import annotations

from rest_framework import serializers

from monitoring.health import DEGRADED, HEALTHY, UNHEALTHY
from monitoring.thresholds import DEFAULTS

PER_REQUEST = "Milliseconds, over requests: one latency per request (a batch is one), model and arm."


class PerformanceStatsSerializer(serializers.Serializer):
    modelId = serializers.CharField()
    totalPredictions = serializers.IntegerField(help_text="Predictions served: one per batch row; no shadow runs.")
    successfulPredictions = serializers.IntegerField()
    failedPredictions = serializers.IntegerField()
    averageLatency = serializers.FloatField(allow_null=True, help_text=f"Mean. {PER_REQUEST}")
    medianLatency = serializers.FloatField(allow_null=True, help_text=PER_REQUEST)
    p95Latency = serializers.FloatField(allow_null=True, help_text=PER_REQUEST)
    p99Latency = serializers.FloatField(allow_null=True, help_text=PER_REQUEST)
    averageConfidence = serializers.FloatField(allow_null=True, help_text="Over predictions (rows).")
    cacheHitRate = serializers.FloatField(help_text="Percent of predictions (rows) answered from the cache.")
    errorRate = serializers.FloatField(help_text="Percent of predictions (rows) that failed.")
    shadowRuns = serializers.IntegerField(
        help_text="This model's shadow runs as an A/B challenger (never served), not in the figures above.",
    )
    shadowFailures = serializers.IntegerField(help_text="Shadow runs that failed.")
    accuracy = serializers.FloatField(allow_null=True, help_text="Percent of outcomes that were right.")
    lastUpdated = serializers.DateTimeField(allow_null=True)


# One field per threshold, from the defaults themselves: a new threshold needs no edit here.
HealthThresholdsSerializer = type(
    "HealthThresholdsSerializer", (serializers.Serializer,), {key: serializers.FloatField() for key in DEFAULTS},
)


class HealthDetailsSerializer(serializers.Serializer):
    windowSeconds = serializers.IntegerField()
    traffic = serializers.BooleanField()
    totalPredictions = serializers.IntegerField()
    errorRate = serializers.FloatField(help_text="Percent.")
    p95Latency = serializers.FloatField(allow_null=True, help_text="Milliseconds.")
    driftingFeatures = serializers.ListField(child=serializers.CharField())
    thresholds = HealthThresholdsSerializer()


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[HEALTHY, DEGRADED, UNHEALTHY])
    reason = serializers.CharField(required=False)
    details = HealthDetailsSerializer()


class DriftReferenceRequestSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.DictField(), help_text="Feature rows, each valid against the model's featureSchema.",
    )


class DriftReferenceSerializer(serializers.Serializer):
    modelId = serializers.CharField()
    rows = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField(), help_text="Features with values in the rows.")
    format = serializers.ChoiceField(choices=["json", "csv"], help_text="How it was uploaded.")
    uploadedAt = serializers.DateTimeField()
    uploadedBy = serializers.CharField()
