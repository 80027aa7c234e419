from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apiauth.permissions import IsStaff
from core.shapes import body_of, serializer_of
from hotcrm_ai.errors import ApplicationError, invalid_input_of
from hotcrm_ai.limits import FastJSONParser
from hotcrm_ai.renderers import FastJSONRenderer
from predictions import feedback, outcomes, services
from predictions.ab.report import ab_test_report
from predictions.providers import feature_schema_import
from predictions.serializers import (
    AbTestReport,
    BatchRequestSerializer,
    BatchResponse,
    FeedbackRequestSerializer,
    FeedbackResponse,
    OutcomeBatchError,
    OutcomeBatchItem,
    OutcomeBatchRequestSerializer,
    OutcomeBatchResponse,
    OutcomeRequestSerializer,
    OutcomeResponse,
    PredictionRequestSerializer,
    PredictionResponse,
    outcome_batch_items,
    plain_batch_request,
    plain_prediction_request,
)
from registry.audit import actor_of
from registry.selectors import model_get_fresh
from registry.serializers import ModelSerializer


class PredictionApi(APIView):
    error_statuses = (404, 409, 422, 502, 504)

    @extend_schema(request=PredictionRequestSerializer, responses=serializer_of(PredictionResponse))
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
        return Response(body_of(answer))


class BatchPredictionApi(APIView):
    error_statuses = (404, 409, 422, 502, 504)
    parser_classes = [FastJSONParser]  # a 1,000-row body: orjson, not json.loads
    renderer_classes = [FastJSONRenderer]  # and orjson, not json.dumps

    @extend_schema(request=BatchRequestSerializer, responses=serializer_of(BatchResponse))
    def post(self, request: Request) -> Response:
        data = plain_batch_request(request.data)
        if data is None:
            body = BatchRequestSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            data = body.validated_data
        return Response(services.predict_batch(
            model_id=data["modelId"], rows=data["features"], use_cache=data["useCache"],
            contexts=data.get("contexts"),
        ))


class PredictionFeedbackApi(APIView):
    """The outcome of a prediction: 201 when recorded, 200 when the same outcome was already
    recorded (a retry), 409 when a different one was."""

    @extend_schema(request=FeedbackRequestSerializer, responses={201: serializer_of(FeedbackResponse),
                                                                  200: serializer_of(FeedbackResponse)})
    def post(self, request: Request, prediction_id: uuid.UUID) -> Response:
        body = FeedbackRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        log, created = feedback.prediction_feedback_record(
            prediction_id=str(prediction_id), actual=body.validated_data["actual"],
        )
        return Response(feedback.outcome_feedback_body(log), status=201 if created else 200)


class OutcomeApi(APIView):
    """What happened to an object: the outcome reaches its latest prediction per model within
    OUTCOME_WINDOW_DAYS. 201 when recorded, 200 when every prediction it reached already had
    it, 404 when there is none, 409 when one has a different outcome (nothing changes)."""

    error_statuses = (404, 409, 422)

    @extend_schema(request=OutcomeRequestSerializer, responses={201: serializer_of(OutcomeResponse),
                                                                200: serializer_of(OutcomeResponse)})
    def post(self, request: Request) -> Response:
        body = OutcomeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = outcomes.object_outcome_record(_object_outcome(body.validated_data))
        data = body.validated_data
        return Response(
            body_of(OutcomeResponse(objectType=data["objectType"], objectId=data["objectId"],
                                    reached=[outcomes.reached_response(r) for r in result.reached])),
            status=201 if result.recorded else 200,
        )


class OutcomeBatchApi(APIView):
    """Up to BATCH_LIMIT outcomes, each answered as POST /outcomes/ would answer it alone
    (its status, and what it reached or its error): one refused item never stops the others."""

    @extend_schema(request=OutcomeBatchRequestSerializer, responses=serializer_of(OutcomeBatchResponse))
    def post(self, request: Request) -> Response:
        items = outcome_batch_items(request.data)
        checker = OutcomeRequestSerializer()  # one instance checks every item: no copy per item
        valid: dict[int, outcomes.ObjectOutcome] = {}
        results: list[OutcomeBatchItem] = []
        for index, item in enumerate(items):
            results.append(_item_names(item))
            try:
                valid[index] = _object_outcome(checker.run_validation(item))
            except ValidationError as exc:
                _item_failed(results[index], invalid_input_of(exc))
        for index, result in zip(valid, outcomes.object_outcomes_record(list(valid.values())), strict=True):
            if result.error is not None:
                _item_failed(results[index], result.error)
            else:
                results[index].status = 201 if result.recorded else 200
                results[index].reached = [outcomes.reached_response(r) for r in result.reached]
        statuses = [r.status for r in results]
        return Response(body_of(OutcomeBatchResponse(
            results=results, recorded=statuses.count(201), unchanged=statuses.count(200),
            failed=sum(1 for s in statuses if s >= 400),
        )))


def _object_outcome(data: dict[str, Any]) -> outcomes.ObjectOutcome:
    return outcomes.ObjectOutcome(object_type=data["objectType"], object_id=data["objectId"],
                                  actual=data["actual"], model_id=data.get("modelId"))


def _item_names(item: Any) -> OutcomeBatchItem:
    """The item's object, echoed when it is text (it may be what was wrong with the item)."""
    names = {}
    for key in ("objectType", "objectId"):
        value = item.get(key) if isinstance(item, dict) else None
        names[key] = value if isinstance(value, str) and len(value) <= 200 else None
    return OutcomeBatchItem(status=0, objectType=names["objectType"], objectId=names["objectId"])


def _item_failed(result: OutcomeBatchItem, error: ApplicationError) -> None:
    result.status = error.status
    result.error = OutcomeBatchError(code=error.code, message=error.message)


class AbTestReportApi(APIView):
    @extend_schema(responses=serializer_of(AbTestReport))
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
