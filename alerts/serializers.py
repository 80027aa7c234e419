from __future__ import annotations

from typing import Any

from rest_framework import serializers

from alerts.models import Channel, Condition, Delivery, Incident, Level, Rule
from registry.models import MLModel

MAX_EMAILS = 50


class ChannelSerializer(serializers.Serializer):
    """`secret` (a webhook's Standard Webhooks key) is write-only; a Slack URL is a secret too,
    so it comes back as its host only."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Channel.Kind.values)
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    emails = serializers.ListField(child=serializers.EmailField(max_length=254), required=False,
                                   max_length=MAX_EMAILS)
    secret = serializers.CharField(max_length=200, required=False, write_only=True, trim_whitespace=True)
    secretSet = serializers.BooleanField(read_only=True, source="secret_set")
    enabled = serializers.BooleanField(required=False, default=True)
    fromEnvironment = serializers.BooleanField(read_only=True, source="from_environment")
    createdAt = serializers.DateTimeField(read_only=True, source="created_at")

    def to_fields(self) -> tuple[dict[str, Any], str | None]:
        data = dict(self.validated_data)
        secret = data.pop("secret", None)
        return data, secret


class RuleSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=100)
    condition = serializers.ChoiceField(choices=Condition.values)
    level = serializers.ChoiceField(choices=Level.values, required=False, allow_null=True)
    threshold = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=3_600_000)
    forSeconds = serializers.IntegerField(source="for_seconds", required=False, min_value=0, max_value=30 * 86_400)
    modelId = serializers.CharField(source="model_id", required=False, allow_null=True, max_length=100,
                                    help_text="null: every active model.")
    channels = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=100)
    cooldownSeconds = serializers.IntegerField(source="cooldown_seconds", required=False, min_value=0,
                                               max_value=30 * 86_400)
    minSamples = serializers.IntegerField(source="min_samples", required=False, min_value=0, max_value=1_000_000)
    enabled = serializers.BooleanField(required=False)
    fromEnvironment = serializers.BooleanField(read_only=True, source="from_environment")

    def validate_modelId(self, value: str | None) -> str | None:
        if value is not None and not MLModel.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"No model '{value[:100]}' is registered.")
        return value

    def validate_channels(self, value: list[int]) -> list[int]:
        known = set(Channel.objects.filter(pk__in=value).values_list("pk", flat=True))
        missing = sorted(set(value) - known)
        if missing:
            raise serializers.ValidationError(f"No channel with id {', '.join(map(str, missing))}.")
        return value

    def to_representation(self, rule: Rule) -> dict[str, Any]:
        return {
            "id": rule.pk, "name": rule.name, "condition": rule.condition, "level": rule.level or None,
            "threshold": rule.threshold, "forSeconds": rule.for_seconds, "modelId": rule.model_id,
            "channels": sorted(c.pk for c in rule.channels.all()), "cooldownSeconds": rule.cooldown_seconds,
            "minSamples": rule.min_samples, "enabled": rule.enabled, "fromEnvironment": rule.from_environment,
        }

    def to_fields(self) -> tuple[dict[str, Any], list[Channel] | None]:
        data = dict(self.validated_data)
        ids = data.pop("channels", None)
        if "level" in data:
            data["level"] = data["level"] or ""
        channels = list(Channel.objects.filter(pk__in=ids)) if ids is not None else None
        return data, channels


class IncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    modelId = serializers.CharField(source="model_id")
    rule = serializers.CharField(source="rule_name")
    ruleId = serializers.IntegerField(source="rule_id", allow_null=True)
    condition = serializers.CharField()
    status = serializers.ChoiceField(choices=[Incident.Status.FIRING, Incident.Status.RESOLVED])
    reason = serializers.CharField()
    since = serializers.DateTimeField()
    firedAt = serializers.DateTimeField(source="fired_at")
    resolvedAt = serializers.DateTimeField(source="resolved_at", allow_null=True)
    acknowledgedAt = serializers.DateTimeField(source="acknowledged_at", allow_null=True)
    acknowledgedBy = serializers.CharField(source="acknowledged_by")


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    deliveryId = serializers.IntegerField()
    statusCode = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    durationMs = serializers.FloatField()

    @staticmethod
    def build(delivery: Delivery, result: Any) -> dict[str, Any]:
        return {"ok": result.ok, "deliveryId": delivery.pk, "statusCode": result.status_code,
                "error": result.error, "durationMs": result.duration_ms}
