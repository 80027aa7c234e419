"""Alerts API: channels and rules (staff writes), incidents newest first, acknowledge, and a
test notification. Thin: validate, call one service, serialize."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
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


def _get(model: type[Channel] | type[Rule], pk: int, what: str) -> Any:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No {what} {pk}.", code=f"{what.replace(' ', '_')}_not_found")
    return found


# List and create one kind of alert object (channels, rules): a subclass names its serializer,
# its rows and its create service. (Comments, not docstrings: those would become each
# operation's description in the OpenAPI schema.)
class AlertObjectListApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    error_statuses = {"post": (409,)}  # a name another channel or rule holds
    serializer_class: type[ChannelSerializer] | type[RuleSerializer]

    def rows(self) -> QuerySet:
        raise NotImplementedError

    def create(self, data: dict[str, Any], extra: Any) -> Model:
        raise NotImplementedError

    def get(self, request: Request) -> Response:
        return Response(self.serializer_class(self.rows(), many=True).data)

    def post(self, request: Request) -> Response:
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, extra = serializer.to_fields()
        created = _save(self.create, data=data, extra=extra)
        return Response(self.serializer_class(created).data, status=status.HTTP_201_CREATED)


# Read, change and delete one alert object; its id is the route's only argument.
class AlertObjectDetailApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    error_statuses = {"patch": (409,)}  # a name another channel or rule holds
    serializer_class: type[ChannelSerializer] | type[RuleSerializer]
    model: type[Channel] | type[Rule]
    what: str  # "channel", "rule": in the 404's message and code

    def update(self, found: Any, data: dict[str, Any], extra: Any) -> Model:
        raise NotImplementedError

    def found(self, ids: dict[str, int]) -> Any:
        (pk,) = ids.values()
        return _get(self.model, pk, self.what)

    def get(self, request: Request, **ids: int) -> Response:
        return Response(self.serializer_class(self.found(ids)).data)

    def patch(self, request: Request, **ids: int) -> Response:
        found = self.found(ids)
        serializer = self.serializer_class(found, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data, extra = serializer.to_fields()
        return Response(self.serializer_class(_save(self.update, found=found, data=data, extra=extra)).data)

    def delete(self, request: Request, **ids: int) -> Response:
        self.found(ids).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def documented_list(serializer: type[serializers.Serializer], name: str) -> Any:
    return extend_schema_view(
        get=extend_schema(operation_id=f"{name}_list", responses=serializer(many=True)),
        post=extend_schema(operation_id=f"{name}_create", request=serializer, responses={201: serializer}),
    )


def documented_detail(serializer: type[serializers.Serializer], name: str) -> Any:
    return extend_schema_view(
        get=extend_schema(operation_id=f"{name}_retrieve", responses=serializer),
        patch=extend_schema(operation_id=f"{name}_update", request=serializer, responses=serializer),
        delete=extend_schema(operation_id=f"{name}_destroy", responses={204: None}),
    )


@documented_list(ChannelSerializer, "alert_channels")
class ChannelListApi(AlertObjectListApi):
    serializer_class = ChannelSerializer

    def rows(self) -> QuerySet:
        return Channel.objects.all()

    def create(self, data: dict[str, Any], extra: Any) -> Model:
        return services.channel_create(data=data, secret=extra)


@documented_detail(ChannelSerializer, "alert_channels")
class ChannelDetailApi(AlertObjectDetailApi):
    serializer_class, model, what = ChannelSerializer, Channel, "channel"

    def update(self, found: Any, data: dict[str, Any], extra: Any) -> Model:
        return services.channel_update(channel=found, data=data, secret=extra)


class ChannelTestApi(APIView):
    """Send a test notification to the channel now and say how it went."""

    permission_classes = [IsStaff]

    @extend_schema(operation_id="alert_channels_test", request=None, responses=TestResultSerializer)
    def post(self, request: Request, channel_id: int) -> Response:
        delivery, result = services.channel_send_test(channel=_get(Channel, channel_id, "channel"))
        return Response(TestResultSerializer.build(delivery, result))


@documented_list(RuleSerializer, "alert_rules")
class RuleListApi(AlertObjectListApi):
    serializer_class = RuleSerializer

    def rows(self) -> QuerySet:
        return Rule.objects.prefetch_related("channels")

    def create(self, data: dict[str, Any], extra: Any) -> Model:
        return services.rule_create(data=data, channels=extra or [])


@documented_detail(RuleSerializer, "alert_rules")
class RuleDetailApi(AlertObjectDetailApi):
    serializer_class, model, what = RuleSerializer, Rule, "rule"

    def update(self, found: Any, data: dict[str, Any], extra: Any) -> Model:
        return services.rule_update(rule=found, data=data, channels=extra)


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

