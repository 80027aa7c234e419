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


class FeedbackRequestSerializer(serializers.Serializer):
    actual = serializers.JSONField(
        help_text="What really happened: the class label for a classifier ('hot', 'high', "
                  "'positive', ...), a number for a regression or forecast (its first period).",
    )

    def validate_actual(self, value):
        if value is None:
            raise serializers.ValidationError("This field may not be null.")
        return value


class FeedbackResponseSerializer(serializers.Serializer):
    predictionId = serializers.UUIDField()
    modelId = serializers.CharField()
    abTestArm = serializers.CharField(allow_null=True)
    actual = serializers.JSONField()
    recordedAt = serializers.DateTimeField()
    correct = serializers.BooleanField(required=False)
    absoluteError = serializers.FloatField(required=False, allow_null=True)


class AbArmSerializer(serializers.Serializer):
    modelId = serializers.CharField()
    modelVersion = serializers.CharField()
    predictions = serializers.IntegerField()
    failures = serializers.IntegerField()
    latency = serializers.DictField(child=serializers.FloatField(allow_null=True))
    meanConfidence = serializers.FloatField(allow_null=True)
    outcomes = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True, help_text="% correct, classifiers")
    mae = serializers.FloatField(allow_null=True, help_text="mean absolute error, numbers")


class AbSignificanceSerializer(serializers.Serializer):
    test = serializers.CharField()
    winner = serializers.CharField(allow_null=True)
    pValue = serializers.FloatField(allow_null=True)
    confidenceLevel = serializers.IntegerField()
    outcomesNeeded = serializers.IntegerField(allow_null=True)
    text = serializers.CharField()


class AbTestReportSerializer(serializers.Serializer):
    modelId = serializers.CharField()
    championModelId = serializers.CharField()
    enabled = serializers.BooleanField()
    mode = serializers.CharField()
    trafficPercentage = serializers.FloatField()
    metric = serializers.ChoiceField(choices=["accuracy", "mae"])
    arms = serializers.DictField(child=AbArmSerializer())
    significance = AbSignificanceSerializer()
    verdict = serializers.CharField()
