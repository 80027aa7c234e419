"""The monitoring API's response shapes. Each builds its endpoint's body from a selector's
result (fields the selector does not give are left out) and documents it in the schema."""

from __future__ import annotations

from rest_framework import serializers

from monitoring.health import DEGRADED, HEALTHY, UNHEALTHY
from monitoring.thresholds import DEFAULTS


class PerformanceStatsSerializer(serializers.Serializer):
    modelId = serializers.CharField()
    totalPredictions = serializers.IntegerField()
    successfulPredictions = serializers.IntegerField()
    failedPredictions = serializers.IntegerField()
    averageLatency = serializers.FloatField(allow_null=True, help_text="Milliseconds.")
    medianLatency = serializers.FloatField(allow_null=True, help_text="Milliseconds.")
    p95Latency = serializers.FloatField(allow_null=True, help_text="Milliseconds.")
    p99Latency = serializers.FloatField(allow_null=True, help_text="Milliseconds.")
    averageConfidence = serializers.FloatField(allow_null=True)
    cacheHitRate = serializers.FloatField(help_text="Percent.")
    errorRate = serializers.FloatField(help_text="Percent.")
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
