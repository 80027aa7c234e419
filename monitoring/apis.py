"""Monitoring API: stats per model, stats of all models, health, drift references."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apiauth.permissions import ReadOrStaffWrite
from hotcrm_ai.errors import InvalidInput, NotFound
from hotcrm_ai.limits import JSONParser
from monitoring.health import model_health
from monitoring.models import DriftReference
from monitoring.references import (
    csv_rows,
    drift_reference_delete,
    drift_reference_set,
    reference_summary,
    too_large,
)
from monitoring.selectors import model_stats
from monitoring.serializers import (
    DriftReferenceRequestSerializer,
    DriftReferenceSerializer,
    HealthSerializer,
    PerformanceStatsSerializer,
)
from registry.audit import actor_of
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


class DriftReferenceApi(APIView):
    """The sample a model's inputs are compared with for drift (monitoring.drift): JSON
    `{"rows": [...]}` or a CSV file (multipart `file`, a header of feature names)."""

    permission_classes = [ReadOrStaffWrite]
    required_permissions = {"POST": ["registry.change_mlmodel"], "DELETE": ["registry.change_mlmodel"]}
    parser_classes = [JSONParser, MultiPartParser]
    error_statuses = {"post": (413, 422)}

    @extend_schema(responses=DriftReferenceSerializer)
    def get(self, request: Request, model_id: str) -> Response:
        return Response(reference_summary(_reference(model_get(model_id))))

    @extend_schema(
        request={
            "application/json": DriftReferenceRequestSerializer,
            "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                                    "required": ["file"]},
        },
        responses={201: DriftReferenceSerializer},
    )
    def post(self, request: Request, model_id: str) -> Response:
        model = model_get(model_id)
        if request.content_type.startswith("multipart/"):
            rows, source = _uploaded_csv(request, model), "csv"
        else:
            if not isinstance(request.data, dict) or "rows" not in request.data:
                raise InvalidInput("Send {\"rows\": [feature objects]} or a CSV file as the multipart field "
                                   "'file'.", code="invalid_reference")
            rows, source = request.data["rows"], "json"
        reference = drift_reference_set(model=model, rows=rows, source=source,
                                        uploaded_by=actor_of(request, "api").name)
        return Response(reference_summary(reference), status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, model_id: str) -> Response:
        model = model_get(model_id)
        if not drift_reference_delete(model=model):
            raise NotFound(f"Model '{model.pk}' has no uploaded drift reference.", code="no_drift_reference")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _reference(model) -> DriftReference:
    reference = DriftReference.objects.filter(model_id=model.pk).first()
    if reference is None:
        raise NotFound(f"Model '{model.pk}' has no uploaded drift reference.", code="no_drift_reference")
    return reference


def _uploaded_csv(request: Request, model) -> list[dict[str, Any]]:
    upload = request.FILES.get("file")
    if upload is None:
        raise InvalidInput("Send the CSV file as the multipart field 'file'.", code="file_required")
    limit = settings.HOTCRM["DRIFT_REFERENCE_MAX_BYTES"]
    if upload.size > limit:  # refused before it is read
        raise too_large(f"The file has {upload.size:,} bytes; the limit is {limit:,}.")
    return csv_rows(model, upload.read())
