"""API routes of the explanations app."""

from django.urls import path

from explanations.apis import CompareApi, ExplanationApi

urlpatterns = [
    path("explanations/", ExplanationApi.as_view(), name="explanation"),
    path("explanations/compare/", CompareApi.as_view(), name="explanation-compare"),
]
