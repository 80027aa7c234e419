"""API routes of monitoring under /api/v1/."""

from django.urls import path

from monitoring.apis import AllStatsApi, DriftReferenceApi, ModelHealthApi, ModelStatsApi

urlpatterns = [
    path("models/<str:model_id>/stats/", ModelStatsApi.as_view(), name="model-stats"),
    path("models/<str:model_id>/health/", ModelHealthApi.as_view(), name="model-health"),
    path("models/<str:model_id>/drift-reference/", DriftReferenceApi.as_view(), name="model-drift-reference"),
    path("stats/", AllStatsApi.as_view(), name="all-stats"),
]
