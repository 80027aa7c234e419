from django.urls import path

from registry.apis import ModelDetailApi, ModelListApi

urlpatterns = [
    path("models/", ModelListApi.as_view(), name="model-list"),
    path("models/<str:model_id>/", ModelDetailApi.as_view(), name="model-detail"),
]
