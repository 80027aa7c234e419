from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apiauth.permissions import IsStaff, ReadOrStaffWrite
from hotcrm_ai.errors import ApplicationError, Conflict, InvalidInput, NotFound
from registry import selectors, services
from registry.audit import actor_of
from registry.models import RegistryChange
from registry.serializers import ModelSerializer, RegistryChangeSerializer


def _as_drf(exc: DjangoValidationError) -> serializers.ValidationError:
    camel = {"feature_schema": "featureSchema", "ab_champion": "abTest.championModelId",
             "provider_config": "providerConfig", "cache_ttl": "cacheTtl",
             "ab_traffic_percentage": "abTest.trafficPercentage", "fallback_model": "fallbackModelId",
             "health_thresholds": "healthThresholds"}
    if hasattr(exc, "message_dict"):
        return serializers.ValidationError({camel.get(k, k): v for k, v in exc.message_dict.items()})
    return serializers.ValidationError(exc.messages)


class ModelListApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    required_permissions = {"POST": ["registry.add_mlmodel"]}
    pagination_class = PageNumberPagination  # read by the OpenAPI generator
    error_statuses = {"post": (409,)}

    @extend_schema(responses=ModelSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.model_list(), request, view=self)
        return paginator.get_paginated_response(ModelSerializer(page, many=True).data)

    @extend_schema(request=ModelSerializer, responses={201: ModelSerializer})
    def post(self, request: Request) -> Response:
        serializer = ModelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields, credentials = serializer.to_model_fields()
        if selectors.model_list().filter(pk=fields["id"]).exists():
            raise Conflict(f"A model '{fields['id']}' is already registered.", code="model_exists")
        try:
            model = services.model_register(data=fields, credentials=credentials,
                                            actor=actor_of(request, "api"))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(ModelSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    required_permissions = {"PATCH": ["registry.change_mlmodel"], "PUT": ["registry.change_mlmodel"],
                            "DELETE": ["registry.delete_mlmodel"]}
    error_statuses = {"patch": (412,), "delete": (409, 412)}

    @extend_schema(responses=ModelSerializer)
    def get(self, request: Request, model_id: str) -> Response:
        return _with_etag(_fresh(model_id))

    @extend_schema(request=ModelSerializer, responses=ModelSerializer)
    def patch(self, request: Request, model_id: str) -> Response:
        model = _fresh(model_id)
        serializer = ModelSerializer(model, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields, credentials = serializer.to_model_fields()
        if fields.get("id", model.id) != model.id:
            raise serializers.ValidationError({"id": "A model's id cannot be changed."})
        fields.pop("id", None)
        try:
            model = services.model_update(model=model, data=fields, credentials=credentials,
                                          actor=actor_of(request, "api"), merge_provider_config=True,
                                          expected_etag=_if_match(request))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return _with_etag(model)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, model_id: str) -> Response:
        model = _fresh(model_id)
        try:
            services.model_delete(model=model, actor=actor_of(request, "api"),
                                  expected_etag=_if_match(request))
        except ProtectedError:
            raise Conflict(
                f"'{model_id}' is the champion of an A/B test; end that test first.", code="model_in_use"
            ) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelPromoteApi(APIView):
    """Promote a challenger: its A/B test ends and it answers all of its traffic."""

    permission_classes = [IsStaff]
    required_permissions = {"POST": ["registry.change_mlmodel"]}

    @extend_schema(request=None, responses=ModelSerializer)
    def post(self, request: Request, model_id: str) -> Response:
        model = services.model_promote(model_id=model_id, actor=actor_of(request, "api"))
        return Response(ModelSerializer(model).data)


class ModelArtifactApi(APIView):
    """Bring your own model: upload an ONNX file (multipart `file`) for a `local` model."""

    permission_classes = [IsStaff]
    parser_classes = [MultiPartParser]
    error_statuses = (413, 422)

    @extend_schema(
        request={"multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                                         "required": ["file"]}},
        responses={201: dict},
    )
    def post(self, request: Request, model_id: str) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("Send the ONNX file as the multipart field 'file'.", code="file_required")
        limit = settings.HOTCRM["ONNX_MAX_BYTES"]
        if upload.size > limit:  # refused before it is read into memory
            raise ApplicationError(f"The file has {upload.size:,} bytes; the limit is {limit:,}.",
                                   code="artifact_too_large", status=413)
        model, found = services.model_artifact_upload(model=_fresh(model_id), data=upload.read(),
                                                      actor=actor_of(request, "api"))
        return Response({"model": ModelSerializer(model).data, "artifact": found}, status=201)


class ModelChangesApi(APIView):
    """The audit trail of one model, newest first: who changed which setting when."""

    permission_classes = [IsStaff]
    required_permissions = {"GET": ["registry.view_registrychange"]}
    pagination_class = PageNumberPagination  # read by the OpenAPI generator: the answer is a page

    @extend_schema(responses=RegistryChangeSerializer(many=True))
    def get(self, request: Request, model_id: str) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(RegistryChange.objects.filter(model_id=model_id), request, view=self)
        return paginator.get_paginated_response(RegistryChangeSerializer(page, many=True).data)


def _with_etag(model) -> Response:
    """The model with its ETag: send it back as If-Match to write safely."""
    return Response(ModelSerializer(model).data, headers={"ETag": f'"{model.etag}"'})


def _if_match(request: Request) -> str | None:
    """The ETag an If-Match names (None: no precondition, or `*`)."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    return header.split(",")[0].strip().removeprefix("W/").strip('"')


def _fresh(model_id: str):
    """The row itself, not the per-process cached copy: writes start from what is stored."""
    model = selectors.model_list().filter(pk=model_id).first()
    if model is None:
        raise NotFound(f"No model '{model_id}' is registered.", code="model_not_found")
    return model
