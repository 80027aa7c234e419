from django.urls import path

from registry.apis import (
    ModelArtifactApi,
    ModelChangesApi,
    ModelDetailApi,
    ModelListApi,
    ModelPromoteApi,
)

urlpatterns = [
    path("models/", ModelListApi.as_view(), name="model-list"),
    path("models/<str:model_id>/", ModelDetailApi.as_view(), name="model-detail"),
    path("models/<str:model_id>/promote/", ModelPromoteApi.as_view(), name="model-promote"),
    path("models/<str:model_id>/changes/", ModelChangesApi.as_view(), name="model-changes"),
    path("models/<str:model_id>/artifact/", ModelArtifactApi.as_view(), name="model-artifact"),
]
