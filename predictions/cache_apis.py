"""The cache's own endpoints: its statistics, and clearing it (staff)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apiauth.permissions import IsStaff
from core.cache import shared_cache
from hotcrm_ai.errors import NotFound
from registry.models import MLModel


class CacheStatsSerializer(serializers.Serializer):
    size = serializers.IntegerField(help_text="Prediction entries held now.")
    hits = serializers.IntegerField(help_text="Lookups answered from the cache, all processes.")
    misses = serializers.IntegerField(help_text="Lookups the cache could not answer, all processes.")
    backend = serializers.ChoiceField(choices=["redis", "memory"])


class CacheClearQuerySerializer(serializers.Serializer):
    modelId = serializers.SlugField(required=False, max_length=100)


class CacheClearedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField()
    backend = serializers.ChoiceField(choices=["redis", "memory"], help_text="Where the entries were deleted.")
    modelId = serializers.CharField(allow_null=True)


class CacheStatsApi(APIView):
    @extend_schema(responses=CacheStatsSerializer)
    def get(self, request: Request) -> Response:
        return Response(shared_cache().stats())


class CacheApi(APIView):
    permission_classes = [IsStaff]
    required_permissions = {"DELETE": ["apiauth.clear_cache"]}

    @extend_schema(
        parameters=[OpenApiParameter("modelId", str, description="Clear only this model's entries.")],
        responses={200: CacheClearedSerializer},
    )
    def delete(self, request: Request) -> Response:
        query = CacheClearQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        model_id = query.validated_data.get("modelId")
        if model_id and not MLModel.objects.filter(pk=model_id).exists():
            raise NotFound(f"No model '{model_id}' is registered.", code="model_not_found")
        return Response(shared_cache().clear(model_id) | {"modelId": model_id})
