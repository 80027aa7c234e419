"""The reporting page on the dashboard (outside the API)."""

from django.urls import path

from reporting.views import ask_page

urlpatterns = [
    path("", ask_page, name="dashboard-ask"),
]
