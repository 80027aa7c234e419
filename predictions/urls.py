from django.urls import path

from predictions.apis import BatchPredictionApi, PredictionApi

urlpatterns = [
    path("predictions/", PredictionApi.as_view(), name="prediction"),
    path("predictions/batch/", BatchPredictionApi.as_view(), name="prediction-batch"),
]
