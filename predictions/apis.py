from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apiauth.permissions import IsStaff
from hotcrm_ai.renderers import FastJSONRenderer
from predictions import feedback, services
from predictions.ab.report import ab_test_report
from predictions.providers import feature_schema_import
from predictions.serializers import (
    AbTestReportSerializer,
    BatchRequestSerializer,
    BatchResponseSerializer,
    FeedbackRequestSerializer,
    FeedbackResponseSerializer,
    PredictionRequestSerializer,
    PredictionResponseSerializer,
    plain_batch_request,
    plain_prediction_request,
)
from registry.audit import actor_of
from registry.selectors import model_get_fresh
from registry.serializers import ModelSerializer


class PredictionApi(APIView):
    error_statuses = (404, 409, 422, 502, 504)

    @extend_schema(request=PredictionRequestSerializer, responses=PredictionResponseSerializer)
    def post(self, request: Request) -> Response:
        data = plain_prediction_request(request.data)
        if data is None:  # anything unusual: the serializer decides, and words the error
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
    renderer_classes = [FastJSONRenderer]  # a 1,000-row body: orjson, not json.dumps

    @extend_schema(request=BatchRequestSerializer, responses=BatchResponseSerializer)
    def post(self, request: Request) -> Response:
        data = plain_batch_request(request.data)
        if data is None:
            body = BatchRequestSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            data = body.validated_data
        results = services.predict_batch(
            model_id=data["modelId"], rows=data["features"], use_cache=data["useCache"]
        )
        return Response({"results": results})


class PredictionFeedbackApi(APIView):
    """The outcome of a prediction: 201 when recorded, 200 when the same outcome was already
    recorded (a retry), 409 when a different one was."""

    @extend_schema(request=FeedbackRequestSerializer, responses={201: FeedbackResponseSerializer,
                                                                  200: FeedbackResponseSerializer})
    def post(self, request: Request, prediction_id: uuid.UUID) -> Response:
        body = FeedbackRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        log, created = feedback.prediction_feedback_record(
            prediction_id=str(prediction_id), actual=body.validated_data["actual"],
        )
        return Response(feedback.outcome_feedback_body(log), status=201 if created else 200)


class AbTestReportApi(APIView):
    @extend_schema(responses=AbTestReportSerializer)
    def get(self, request: Request, model_id: str) -> Response:
        return Response(ab_test_report(model_get_fresh(model_id)))


class ModelSchemaImportApi(APIView):
    """Import the featureSchema of a `custom` V2 model from its server's model metadata."""

    permission_classes = [IsStaff]
    error_statuses = (422, 502, 504)

    @extend_schema(request=None, responses=ModelSerializer)
    def post(self, request: Request, model_id: str) -> Response:
        model = feature_schema_import(model=model_get_fresh(model_id), actor=actor_of(request, "api"))
        return Response(ModelSerializer(model).data)
