from django.urls import path

from predictions.apis import BatchPredictionApi, PredictionApi
from predictions.cache_apis import CacheApi, CacheStatsApi

urlpatterns = [
    path("predictions/", PredictionApi.as_view(), name="prediction"),
    path("predictions/batch/", BatchPredictionApi.as_view(), name="prediction-batch"),
    path("cache/", CacheApi.as_view(), name="cache"),
    path("cache/stats/", CacheStatsApi.as_view(), name="cache-stats"),
]
