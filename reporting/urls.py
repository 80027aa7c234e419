"""API routes of the reporting app."""

from django.urls import path

from reporting.apis import ReportQueryApi

urlpatterns = [
    path("reports/query/", ReportQueryApi.as_view(), name="report-query"),
]
