from django.urls import path

from predictions import v2_apis

urlpatterns = [
    # Server metadata is at /v2 itself (hotcrm_ai/urls.py), where clients ask for it.
    path("health/live", v2_apis.V2LiveApi.as_view(), name="v2-live"),
    path("health/ready", v2_apis.V2ReadyApi.as_view(), name="v2-ready"),
    path("models/<str:model_id>", v2_apis.V2ModelApi.as_view(), name="v2-model"),
    path("models/<str:model_id>/ready", v2_apis.V2ModelReadyApi.as_view(), name="v2-model-ready"),
    path("models/<str:model_id>/infer", v2_apis.V2InferApi.as_view(), name="v2-infer"),
    path("models/<str:model_id>/versions/<str:version>", v2_apis.V2ModelApi.as_view()),
    path("models/<str:model_id>/versions/<str:version>/ready", v2_apis.V2ModelReadyApi.as_view()),
    path("models/<str:model_id>/versions/<str:version>/infer", v2_apis.V2InferApi.as_view()),
]
