from django.urls import path

from privacy.apis import ObjectErasureApi

urlpatterns = [
    # <path:>: an id may hold a slash (sent as %2F).
    path("objects/<str:object_type>/<path:object_id>/", ObjectErasureApi.as_view(), name="object-erase"),
]
