from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from predictions import services
from predictions.serializers import (
    BatchRequestSerializer,
    BatchResponseSerializer,
    PredictionRequestSerializer,
    PredictionResponseSerializer,
)


class PredictionApi(APIView):
    error_statuses = (404, 409, 422, 502, 504)

    @extend_schema(request=PredictionRequestSerializer, responses=PredictionResponseSerializer)
    def post(self, request: Request) -> Response:
        body = PredictionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        answer = services.predict(
            model_id=data["modelId"], features=data["features"], context=data.get("context"),
            use_cache=data["useCache"], forced_arm=data.get("abArm"),
        )
        return Response(answer)


class BatchPredictionApi(APIView):
    error_statuses = (404, 409, 422, 502, 504)

    @extend_schema(request=BatchRequestSerializer, responses=BatchResponseSerializer)
    def post(self, request: Request) -> Response:
        body = BatchRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        results = services.predict_batch(
            model_id=data["modelId"], rows=data["features"], use_cache=data["useCache"]
        )
        return Response({"results": results})
