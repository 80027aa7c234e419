"""Monitoring API: stats per model, stats of all models, health."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hotcrm_ai.errors import InvalidInput
from monitoring.health import model_health
from monitoring.selectors import model_stats
from monitoring.serializers import HealthSerializer, PerformanceStatsSerializer
from registry.selectors import model_get, model_list

MAX_WINDOW = 366 * 86_400
WINDOW_PARAM = OpenApiParameter(
    "window", OpenApiTypes.INT, description="Only the last this many seconds (default: every retained metric).",
)


def parse_window(raw: Any, *, required: bool = False, default: int | None = None) -> int | None:
    if raw in (None, ""):
        if required:
            raise InvalidInput("'window' is required.", code="invalid_window")
        return default
    try:
        window = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput("'window' must be a whole number of seconds.", code="invalid_window") from None
    if not 1 <= window <= MAX_WINDOW:
        raise InvalidInput(f"'window' must be from 1 to {MAX_WINDOW} seconds.", code="invalid_window")
    return window


class ModelStatsApi(APIView):
    @extend_schema(parameters=[WINDOW_PARAM], responses=PerformanceStatsSerializer)
    def get(self, request: Request, model_id: str) -> Response:
        window = parse_window(request.query_params.get("window"))
        model = model_get(model_id)
        return Response(PerformanceStatsSerializer(model_stats(model.pk, window=window)).data)


class AllStatsApi(APIView):
    @extend_schema(
        parameters=[WINDOW_PARAM],
        responses={200: OpenApiResponse(
            {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/PerformanceStats"}},
            description="Each model's PerformanceStats, by model id.",
        )},
    )
    def get(self, request: Request) -> Response:
        window = parse_window(request.query_params.get("window"))
        return Response({m.pk: PerformanceStatsSerializer(model_stats(m.pk, window=window)).data
                         for m in model_list()})


class ModelHealthApi(APIView):
    @extend_schema(responses=HealthSerializer)
    def get(self, request: Request, model_id: str) -> Response:
        return Response(HealthSerializer(model_health(model_get(model_id))).data)
