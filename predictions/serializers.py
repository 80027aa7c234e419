from __future__ import annotations

from rest_framework import serializers


class ContextSerializer(serializers.Serializer):
    userId = serializers.CharField(required=False, allow_blank=True, max_length=200)
    objectType = serializers.CharField(required=False, allow_blank=True, max_length=100)
    objectId = serializers.CharField(required=False, allow_blank=True, max_length=200)


class PredictionRequestSerializer(serializers.Serializer):
    modelId = serializers.CharField(max_length=100)
    features = serializers.JSONField()
    context = ContextSerializer(required=False)
    useCache = serializers.BooleanField(required=False, default=True)
    abArm = serializers.ChoiceField(
        choices=["challenger", "champion"], required=False,
        help_text="Force an A/B arm (support and debugging); normally left out.",
    )


class BatchRequestSerializer(serializers.Serializer):
    modelId = serializers.CharField(max_length=100)
    features = serializers.ListField(child=serializers.JSONField(), allow_empty=False)
    useCache = serializers.BooleanField(required=False, default=True)


class PredictionMetadataSerializer(serializers.Serializer):
    predictionId = serializers.UUIDField()
    requestedModelId = serializers.CharField()
    abTestArm = serializers.ChoiceField(choices=["challenger", "champion"], allow_null=True)
    provider = serializers.CharField()
    fallbackFrom = serializers.CharField(
        required=False, help_text="Present when the configured fallback model answered because this model failed.",
    )
    fallbackReason = serializers.CharField(required=False, help_text="provider_failed or provider_timeout")


class PredictionResponseSerializer(serializers.Serializer):
    prediction = serializers.JSONField()
    confidence = serializers.FloatField(allow_null=True)
    modelId = serializers.CharField()
    modelVersion = serializers.CharField()
    processingTime = serializers.FloatField()
    cached = serializers.BooleanField()
    metadata = PredictionMetadataSerializer()


class BatchResponseSerializer(serializers.Serializer):
    results = PredictionResponseSerializer(many=True)
