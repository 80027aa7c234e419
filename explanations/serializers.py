from __future__ import annotations

from rest_framework import serializers

from predictions.serializers import ContextSerializer

ARM_HELP = ("With `context` or `abArm` on a running A/B test, the model explained is the one that "
            "answers that object (the same sticky routing as predictions); `modelId` in the answer names it.")


class ExplanationRequestSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Explanation"  # the request component is "ExplanationRequest"

    modelId = serializers.CharField(max_length=100)
    features = serializers.JSONField()
    prediction = serializers.JSONField(
        required=False, allow_null=True,
        help_text="Accepted for the HotCRM clients; the model's own output is always what is explained.",
    )
    confidence = serializers.FloatField(required=False, allow_null=True, help_text="As `prediction`.")
    context = ContextSerializer(required=False, help_text=ARM_HELP)  # type: ignore[assignment]  # shadows Field.context
    abArm = serializers.ChoiceField(choices=["challenger", "champion"], required=False, help_text=ARM_HELP)
    useCache = serializers.BooleanField(required=False, default=True)


class CompareRequestSerializer(serializers.Serializer):
    class Meta:
        ref_name = "Compare"  # the request component is "CompareRequest"

    modelId = serializers.CharField(max_length=100)
    features1 = serializers.JSONField()
    features2 = serializers.JSONField()
    context = ContextSerializer(required=False, help_text=ARM_HELP)  # type: ignore[assignment]  # shadows Field.context
    abArm = serializers.ChoiceField(choices=["challenger", "champion"], required=False, help_text=ARM_HELP)
    useCache = serializers.BooleanField(required=False, default=True)


class FeatureContributionSerializer(serializers.Serializer):
    feature = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the API's name shadows Field.label
    value = serializers.JSONField()
    shapValue = serializers.FloatField(help_text="Shapley value, in the units of outputValue.")
    contribution = serializers.FloatField(help_text="shapValue over the total absolute attribution: -1..+1.")
    importance = serializers.FloatField(help_text="Share of the total absolute attribution, 0-100.")
    standardError = serializers.FloatField(required=False, help_text="Sampling estimates only.")


class MethodSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=["exact", "permutation"])
    evaluations = serializers.IntegerField()
    permutations = serializers.IntegerField(required=False)
    maxStandardError = serializers.FloatField(required=False)


class ExplanationResponseSerializer(serializers.Serializer):
    prediction = serializers.JSONField()
    confidence = serializers.FloatField(allow_null=True)
    outputValue = serializers.FloatField()
    baseValue = serializers.FloatField()
    outputName = serializers.CharField(help_text="Which number is explained.")
    method = MethodSerializer()
    featureContributions = FeatureContributionSerializer(many=True)
    topFeatures = FeatureContributionSerializer(many=True)
    explanation = serializers.CharField()
    modelId = serializers.CharField()
    modelVersion = serializers.CharField()
    processingTime = serializers.FloatField()
    cached = serializers.BooleanField()


class DifferenceSerializer(serializers.Serializer):
    feature = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the API's name shadows Field.label
    value1 = serializers.JSONField()
    value2 = serializers.JSONField()
    impact = serializers.FloatField(help_text="In outputValue units; the impacts sum to outputValue2 - outputValue1.")


class CompareResponseSerializer(serializers.Serializer):
    differences = DifferenceSerializer(many=True)
    explanation = serializers.CharField()
    outputName = serializers.CharField()
    outputValue1 = serializers.FloatField()
    outputValue2 = serializers.FloatField()
    prediction1 = serializers.JSONField()
    prediction2 = serializers.JSONField()
    method = MethodSerializer()
    modelId = serializers.CharField()
    modelVersion = serializers.CharField()
    processingTime = serializers.FloatField()
    cached = serializers.BooleanField()
