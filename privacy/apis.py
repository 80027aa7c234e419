"""Erasing a CRM object on request: a thin view over privacy.services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apiauth.permissions import IsStaff
from privacy import services
from privacy.models import Erasure
from registry.audit import actor_of


class ErasureSerializer(serializers.Serializer):
    """What an erasure removed (documentation; `erasure_body` builds it)."""

    objectType = serializers.CharField()
    erased = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Rows (job results: lines) removed, by place: predictions.PredictionLog, jobs.JobRowError, "
                  "jobs.JobChunk.output (results files), jobs.JobChunk.input (rows of jobs not scored yet).",
    )
    total = serializers.IntegerField()
    erasedAt = serializers.DateTimeField()
    auditId = serializers.IntegerField(help_text="The audit entry (who, when, the counts; never the id).")


def erasure_body(erasure: Erasure) -> dict:
    return {"objectType": erasure.object_type, "erased": erasure.counts, "total": erasure.total,
            "erasedAt": erasure.erased_at, "auditId": erasure.pk}


class ObjectErasureApi(APIView):
    permission_classes = [IsStaff]
    required_permissions = {"DELETE": ["privacy.erase_object"]}
    error_statuses = (400,)

    @extend_schema(
        operation_id="object_erase",
        parameters=[
            OpenApiParameter("object_type", str, OpenApiParameter.PATH, description="objectType, e.g. `lead`."),
            OpenApiParameter("object_id", str, OpenApiParameter.PATH,
                             description="objectId as the CRM sent it in prediction contexts and job id columns."),
        ],
        responses={200: ErasureSerializer},
        description="Erase every stored row that names the object, in one transaction: prediction-log rows "
                    "(with this objectType, or none), job result lines and row errors. An object nothing "
                    "names answers 200 with zero counts. Audited with who, when and the counts, not the id.",
    )
    def delete(self, request: Request, object_type: str, object_id: str) -> Response:
        erasure = services.objects_erase(object_type=object_type, object_ids=[object_id],
                                         actor=actor_of(request, "api"))
        return Response(erasure_body(erasure))
