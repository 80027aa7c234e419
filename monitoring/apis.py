"""Monitoring API: stats per model, stats of all models, health."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hotcrm_ai.errors import InvalidInput
from monitoring.health import model_health
from monitoring.selectors import model_stats
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
    @extend_schema(parameters=[WINDOW_PARAM], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, model_id: str) -> Response:
        window = parse_window(request.query_params.get("window"))
        model = model_get(model_id)
        return Response(model_stats(model.pk, window=window))


class AllStatsApi(APIView):
    @extend_schema(parameters=[WINDOW_PARAM], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        window = parse_window(request.query_params.get("window"))
        return Response({m.pk: model_stats(m.pk, window=window) for m in model_list()})


class ModelHealthApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, model_id: str) -> Response:
        return Response(model_health(model_get(model_id)))
