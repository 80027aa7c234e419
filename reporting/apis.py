from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reporting.services import question_answer


class ReportQueryApi(APIView):
    class InputSerializer(serializers.Serializer):
        question = serializers.JSONField(help_text="A question in plain English, at most 500 characters.")

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer("ReportAnswer", {
            "question": serializers.CharField(), "query": serializers.JSONField(),
            "columns": serializers.ListField(child=serializers.CharField()),
            "rows": serializers.ListField(child=serializers.ListField()),
            "summary": serializers.CharField(), "chart": serializers.JSONField(),
            "translatedBy": serializers.ChoiceField(choices=["llm", "parser"]),
        }),
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(question_answer(question=body.validated_data["question"]))
