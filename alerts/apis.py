"""Alerts API: channels and rules (staff writes), incidents newest first, acknowledge, and a
test notification. Thin: validate, call one service, serialize."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import selectors, services
from alerts.models import Channel, Rule
from alerts.serializers import (
    ChannelSerializer,
    IncidentSerializer,
    RuleSerializer,
    TestResultSerializer,
)
from apiauth.permissions import IsStaff, ReadOrStaffWrite
from hotcrm_ai.errors import Conflict, NotFound
from registry.audit import actor_of

CAMEL = {"for_seconds": "forSeconds", "cooldown_seconds": "cooldownSeconds", "min_samples": "minSamples",
         "model": "modelId", "model_id": "modelId", "__all__": "non_field_errors"}


def _as_drf(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "message_dict"):
        return serializers.ValidationError({CAMEL.get(k, k): v for k, v in exc.message_dict.items()})
    return serializers.ValidationError(exc.messages)


def _save(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        if any(e.code == "unique" for e in getattr(exc, "error_dict", {}).get("name", [])):
            raise Conflict("That name is already taken.", code="name_taken") from None
        raise _as_drf(exc) from exc
    except IntegrityError:  # the same name stored by a concurrent request
        raise Conflict("That name is already taken.", code="name_taken") from None


def _get(model: type, pk: int, what: str) -> Any:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No {what} {pk}.", code=f"{what.replace(' ', '_')}_not_found")
    return found


class ChannelListApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    error_statuses = {"post": (409,)}  # a name another channel or rule holds

    @extend_schema(operation_id="alert_channels_list", responses=ChannelSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ChannelSerializer(Channel.objects.all(), many=True).data)

    @extend_schema(operation_id="alert_channels_create", request=ChannelSerializer,
                   responses={201: ChannelSerializer})
    def post(self, request: Request) -> Response:
        serializer = ChannelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, secret = serializer.to_fields()
        channel = _save(services.channel_create, data=data, secret=secret)
        return Response(ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)


class ChannelDetailApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    error_statuses = {"patch": (409,)}  # a name another channel or rule holds

    @extend_schema(operation_id="alert_channels_retrieve", responses=ChannelSerializer)
    def get(self, request: Request, channel_id: int) -> Response:
        return Response(ChannelSerializer(_get(Channel, channel_id, "channel")).data)

    @extend_schema(operation_id="alert_channels_update", request=ChannelSerializer, responses=ChannelSerializer)
    def patch(self, request: Request, channel_id: int) -> Response:
        channel = _get(Channel, channel_id, "channel")
        serializer = ChannelSerializer(channel, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data, secret = serializer.to_fields()
        channel = _save(services.channel_update, channel=channel, data=data, secret=secret)
        return Response(ChannelSerializer(channel).data)

    @extend_schema(operation_id="alert_channels_destroy", responses={204: None})
    def delete(self, request: Request, channel_id: int) -> Response:
        _get(Channel, channel_id, "channel").delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelTestApi(APIView):
    """Send a test notification to the channel now and say how it went."""

    permission_classes = [IsStaff]

    @extend_schema(operation_id="alert_channels_test", request=None, responses=TestResultSerializer)
    def post(self, request: Request, channel_id: int) -> Response:
        delivery, result = services.channel_send_test(channel=_get(Channel, channel_id, "channel"))
        return Response(TestResultSerializer.build(delivery, result))


class RuleListApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    error_statuses = {"post": (409,)}  # a name another channel or rule holds

    @extend_schema(operation_id="alert_rules_list", responses=RuleSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(RuleSerializer(Rule.objects.prefetch_related("channels"), many=True).data)

    @extend_schema(operation_id="alert_rules_create", request=RuleSerializer, responses={201: RuleSerializer})
    def post(self, request: Request) -> Response:
        serializer = RuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, channels = serializer.to_fields()
        rule = _save(services.rule_create, data=data, channels=channels or [])
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    error_statuses = {"patch": (409,)}  # a name another channel or rule holds

    @extend_schema(operation_id="alert_rules_retrieve", responses=RuleSerializer)
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(RuleSerializer(_get(Rule, rule_id, "rule")).data)

    @extend_schema(operation_id="alert_rules_update", request=RuleSerializer, responses=RuleSerializer)
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = _get(Rule, rule_id, "rule")
        serializer = RuleSerializer(rule, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data, channels = serializer.to_fields()
        rule = _save(services.rule_update, rule=rule, data=data, channels=channels)
        return Response(RuleSerializer(rule).data)

    @extend_schema(operation_id="alert_rules_destroy", responses={204: None})
    def delete(self, request: Request, rule_id: int) -> Response:
        _get(Rule, rule_id, "rule").delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class IncidentListApi(APIView):
    """Incidents (firing and resolved), newest first."""

    pagination_class = PageNumberPagination

    @extend_schema(operation_id="alert_incidents_list", responses=IncidentSerializer(many=True), parameters=[
        OpenApiParameter("modelId", OpenApiTypes.STR, description="Only this model's incidents."),
        OpenApiParameter("status", OpenApiTypes.STR, enum=["firing", "resolved"]),
    ])
    def get(self, request: Request) -> Response:
        incidents = selectors.incident_list(model_id=request.query_params.get("modelId"),
                                            status=request.query_params.get("status"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(incidents, request, view=self)
        return paginator.get_paginated_response(IncidentSerializer(page, many=True).data)


class IncidentAcknowledgeApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(operation_id="alert_incidents_acknowledge", request=None, responses=IncidentSerializer)
    def post(self, request: Request, incident_id: int) -> Response:
        incident = selectors.incident_list().filter(pk=incident_id).first()
        if incident is None:
            raise NotFound(f"No incident {incident_id}.", code="incident_not_found")
        incident = services.incident_acknowledge(incident=incident, actor=actor_of(request, "api").name)
        return Response(IncidentSerializer(incident).data)

