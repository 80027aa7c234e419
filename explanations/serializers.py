from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from rest_framework import serializers

from core.shapes import OMIT, Omitted, doc, shape
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


# --- response shapes: each builds its body (core.shapes.body_of) and documents it ----------

@shape
class FeatureContribution:
    feature: str
    label: str
    value: Any
    shapValue: float = field(metadata=doc("Shapley value, in the units of outputValue."))
    contribution: float = field(metadata=doc("shapValue over the total absolute attribution: -1..+1."))
    importance: float = field(metadata=doc("Share of the total absolute attribution, 0-100."))
    position: int | Omitted = field(default=OMIT, metadata=doc("A word's place in the text (text models)."))
    standardError: float | Omitted = field(default=OMIT, metadata=doc("Sampling estimates only."))


@shape
class Method:
    name: Literal["exact", "permutation"]
    permutations: int | Omitted = OMIT
    evaluations: int
    maxStandardError: float | Omitted = OMIT


@shape
class Background:
    rows: int
    source: str


@shape
class ForecastPeriod:
    period: int
    quarter: str
    value: float
    baseValue: float
    components: dict[str, float]


@shape
class ProductShare:
    product: str
    shapValue: float


@shape
class RecommendedItem:
    id: str
    score: float
    baseValue: float
    becauseOf: list[ProductShare]


@shape
class ExplanationResponse:
    prediction: Any
    confidence: float | None
    outputValue: float
    baseValue: float
    outputName: str = field(metadata=doc("Which number is explained."))
    method: Method
    featureContributions: list[FeatureContribution]
    topFeatures: list[FeatureContribution]
    explanation: str
    background: Background | Omitted = field(default=OMIT, metadata=doc("What the features were compared with."))
    words: int | Omitted = field(default=OMIT, metadata=doc("Text models: the words explained."))
    periods: list[ForecastPeriod] | Omitted = field(default=OMIT, metadata=doc("Forecasts: each quarter's split."))
    items: list[RecommendedItem] | Omitted = field(default=OMIT, metadata=doc("Recommendations: each item's split."))
    baseValueMeans: str | Omitted = OMIT
    modelId: str
    modelVersion: str
    processingTime: float
    cached: bool


@shape
class Difference:
    feature: str
    label: str
    value1: Any
    value2: Any
    impact: float = field(metadata=doc("In outputValue units; the impacts sum to outputValue2 - outputValue1."))


@shape
class CompareResponse:
    differences: list[Difference]
    explanation: str
    outputName: str
    outputValue1: float
    outputValue2: float
    prediction1: Any
    prediction2: Any
    method: Method
    modelId: str
    modelVersion: str
    processingTime: float
    cached: bool
