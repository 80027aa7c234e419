from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apiauth.throttling import TokenRateThrottle
from core.shapes import serializer_of
from explanations import services
from explanations.serializers import (
    CompareRequestSerializer,
    CompareResponse,
    ExplanationRequestSerializer,
    ExplanationResponse,
)


class ExplanationApi(APIView):
    @extend_schema(request=ExplanationRequestSerializer, responses=serializer_of(ExplanationResponse))
    def post(self, request: Request) -> Response:
        body = ExplanationRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        return Response(services.explain(
            model_id=data["modelId"], features=data["features"], context=data.get("context"),
            forced_arm=data.get("abArm"), use_cache=data["useCache"],
            charge=lambda rows: TokenRateThrottle.charge(request, rows),
        ))


class CompareApi(APIView):
    @extend_schema(request=CompareRequestSerializer, responses=serializer_of(CompareResponse))
    def post(self, request: Request) -> Response:
        body = CompareRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        return Response(services.compare(
            model_id=data["modelId"], features1=data["features1"], features2=data["features2"],
            context=data.get("context"), forced_arm=data.get("abArm"), use_cache=data["useCache"],
            charge=lambda rows: TokenRateThrottle.charge(request, rows),
        ))
