from django.urls import path

from jobs import views

urlpatterns = [
    path("", views.jobs_page, name="dashboard-jobs"),
    path("data/", views.jobs_data, name="dashboard-jobs-data"),
]
