"""The jobs API: thin views over jobs.services and jobs.selectors."""

from __future__ import annotations

import uuid

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import selectors, services


class JobCreateSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="CSV with a header row, or JSON Lines; gzip accepted.")
    modelId = serializers.CharField(max_length=100)
    idColumn = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    objectType = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    maxErrorRate = serializers.FloatField(min_value=0, max_value=100, required=False, default=5.0)
    useCache = serializers.BooleanField(required=False, default=False)


class OutcomeJobCreateSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="CSV with a header row, or JSON Lines; gzip accepted. Columns objectType, objectId, actual and "
                  "optionally modelId, as in POST /outcomes/.",
    )
    maxErrorRate = serializers.FloatField(min_value=0, max_value=100, required=False, default=5.0)


class JobSerializer(serializers.Serializer):
    """The Job body (documentation: jobs.selectors.job_body builds it)."""

    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["scoring", "outcomes"],
                                   help_text="scoring: features in, predictions out; outcomes: outcomes by object in.")
    modelId = serializers.CharField(allow_null=True, help_text="The scoring model; null for an outcomes job.")
    status = serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed", "cancelled"])
    rowsTotal = serializers.IntegerField()
    rowsDone = serializers.IntegerField()
    rowsFailed = serializers.IntegerField()
    progress = serializers.FloatField()
    rowsPerSecond = serializers.FloatField(allow_null=True)
    etaSeconds = serializers.FloatField(allow_null=True)
    createdAt = serializers.DateTimeField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)
    createdBy = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    idColumn = serializers.CharField(allow_null=True)
    objectType = serializers.CharField(allow_null=True)
    resultsUrl = serializers.CharField(allow_null=True)
    errorsUrl = serializers.CharField()


class JobRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="1-based number of the data row in the file (the header not counted).")
    id = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    message = serializers.CharField()


class _Page(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class JobPageSerializer(_Page):
    results = JobSerializer(many=True)


class JobRowErrorPageSerializer(_Page):
    results = JobRowErrorSerializer(many=True)


class JobListApi(APIView):
    parser_classes = [MultiPartParser]
    error_statuses = (404, 409, 413)

    @extend_schema(operation_id="jobs_list", responses=JobPageSerializer)
    def get(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(selectors.jobs_visible_to(request.user), request, view=self) or []
        return paginator.get_paginated_response([selectors.job_body(job) for job in page])

    @extend_schema(request={"multipart/form-data": JobCreateSerializer}, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        body = JobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        upload = data["file"]
        job = services.job_create(
            model_id=data["modelId"], upload=upload.file, file_name=upload.name or "", size=upload.size,
            created_by=selectors.owner_name(request.user), id_column=data["idColumn"],
            object_type=data["objectType"], max_error_rate=data["maxErrorRate"], use_cache=data["useCache"],
        )
        return Response(selectors.job_body(job), status=202, headers={"Location": f"/api/v1/jobs/{job.pk}/"})


class OutcomeJobCreateApi(APIView):
    """An outcomes file recorded on the workers, each row as POST /outcomes/ records one;
    follow it, and read its row errors and results, through /jobs/{id}/."""

    parser_classes = [MultiPartParser]
    error_statuses = (413,)

    @extend_schema(operation_id="outcomes_jobs_create", request={"multipart/form-data": OutcomeJobCreateSerializer},
                   responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        body = OutcomeJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        job = services.outcome_job_create(
            upload=upload.file, file_name=upload.name or "", size=upload.size,
            created_by=selectors.owner_name(request.user), max_error_rate=body.validated_data["maxErrorRate"],
        )
        return Response(selectors.job_body(job), status=202, headers={"Location": f"/api/v1/jobs/{job.pk}/"})


class JobDetailApi(APIView):
    @extend_schema(operation_id="jobs_retrieve", responses=JobSerializer)
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        return Response(selectors.job_body(selectors.job_get_for(request.user, job_id)))


class JobCancelApi(APIView):
    error_statuses = (404, 409)

    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request: Request, job_id: uuid.UUID) -> Response:
        job = services.job_cancel(job=selectors.job_get_for(request.user, job_id))
        return Response(selectors.job_body(job), status=202)


class JobResultsApi(APIView):
    error_statuses = (404, 409)

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="The results, CSV, in input order.")})
    def get(self, request: Request, job_id: uuid.UUID) -> StreamingHttpResponse:
        job = selectors.job_get_for(request.user, job_id)
        response = StreamingHttpResponse(selectors.job_results_stream(job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-results.csv"'
        return response


class JobErrorsApi(APIView):
    @extend_schema(responses=JobRowErrorPageSerializer)
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        job = selectors.job_get_for(request.user, job_id)
        paginator = PageNumberPagination()
        paginator.page_size = 1000
        page = paginator.paginate_queryset(selectors.job_errors(job), request, view=self) or []
        return paginator.get_paginated_response([selectors.error_body(e) for e in page])
