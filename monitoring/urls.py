"""Routes of monitoring outside the API: /healthz, /metrics, /dashboard/."""

from django.contrib.auth import views as auth_views
from django.urls import path

from monitoring import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/data/", views.dashboard_data, name="dashboard-data"),
    path("dashboard/models/<str:model_id>/", views.model_detail, name="dashboard-model"),
    path("dashboard/models/<str:model_id>/data/", views.model_data, name="dashboard-model-data"),
    path("dashboard/login/", auth_views.LoginView.as_view(template_name="dashboard/login.html"), name="login"),
    path("dashboard/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
