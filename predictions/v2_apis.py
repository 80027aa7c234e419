"""`/v2/...`: the Open Inference Protocol's REST endpoints over our registry. Health is open
like /healthz (load balancers and KServe probe it); model metadata and inference need a token.
They speak that protocol, errors included, so they are left out of our OpenAPI document: the
protocol's own specification (KServe V2) is theirs."""

from __future__ import annotations

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hotcrm_ai.errors import InvalidInput, NotFound
from hotcrm_ai.limits import JSONParser
from predictions import open_inference
from registry.models import MLModel
from registry.selectors import model_get


class V2ErrorsMixin:
    """Errors as the protocol words them, `{"error": "<message>"}` (tritonclient and KServe's
    client read a string there), with the project's `code` beside it."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        error = response.data.get("error") if isinstance(response.data, dict) else None
        if isinstance(error, dict):
            response.data = {"error": error.get("message", ""), "code": error.get("code", "")}
        return response


def _model(model_id: str, version: str | None) -> MLModel:
    model = model_get(model_id)
    if version is not None and version != model.version:
        raise NotFound(f"Model '{model_id}' has no version '{version}' (it is {model.version}).",
                       code="model_version_not_found")
    return model


@extend_schema(exclude=True)
class V2ServerApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request: Request) -> Response:
        return Response({"name": "hotcrm-ai", "version": "2", "extensions": []})


@extend_schema(exclude=True)
class V2LiveApi(V2ServerApi):
    def get(self, request: Request) -> Response:
        return Response({"live": True})


@extend_schema(exclude=True)
class V2ReadyApi(V2ServerApi):
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:
            return Response({"ready": False}, status=503)
        return Response({"ready": True})


@extend_schema(exclude=True)
class V2ModelApi(V2ErrorsMixin, APIView):
    def get(self, request: Request, model_id: str, version: str | None = None) -> Response:
        return Response(open_inference.metadata(_model(model_id, version)))


@extend_schema(exclude=True)
class V2ModelReadyApi(V2ErrorsMixin, APIView):
    def get(self, request: Request, model_id: str, version: str | None = None) -> Response:
        model = _model(model_id, version)
        return Response({"name": model.pk, "ready": model.is_active}, status=200 if model.is_active else 503)


class AnyTypeJSONParser(JSONParser):
    """V2 clients send JSON under whatever content type they like (tritonclient sends its own);
    the project's JSON limits (finite numbers, depth) still apply."""

    media_type = "*/*"


@extend_schema(exclude=True)
class V2InferApi(V2ErrorsMixin, APIView):
    parser_classes = [AnyTypeJSONParser]

    def post(self, request: Request, model_id: str, version: str | None = None) -> Response:
        if request.headers.get("Inference-Header-Content-Length"):
            raise InvalidInput("Binary tensor data is not supported here: send JSON tensors "
                               "(tritonclient: binary_data=False).", code="invalid_v2_request")
        return Response(open_inference.infer(_model(model_id, version), request.data))
