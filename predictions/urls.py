from django.urls import path

from predictions.apis import (
    AbTestReportApi,
    BatchPredictionApi,
    ModelSchemaImportApi,
    OutcomeApi,
    OutcomeBatchApi,
    PredictionApi,
    PredictionFeedbackApi,
)
from predictions.cache_apis import CacheApi, CacheStatsApi

urlpatterns = [
    path("predictions/", PredictionApi.as_view(), name="prediction"),
    path("predictions/batch/", BatchPredictionApi.as_view(), name="prediction-batch"),
    path("predictions/<uuid:prediction_id>/feedback/", PredictionFeedbackApi.as_view(),
         name="prediction-feedback"),
    path("outcomes/", OutcomeApi.as_view(), name="outcomes"),
    path("outcomes/batch/", OutcomeBatchApi.as_view(), name="outcomes-batch"),
    path("models/<str:model_id>/ab-test/", AbTestReportApi.as_view(), name="model-ab-test"),
    path("models/<str:model_id>/import-schema/", ModelSchemaImportApi.as_view(), name="model-import-schema"),
    path("cache/", CacheApi.as_view(), name="cache"),
    path("cache/stats/", CacheStatsApi.as_view(), name="cache-stats"),
]
