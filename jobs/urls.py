from django.urls import path

from jobs.apis import JobCancelApi, JobDetailApi, JobErrorsApi, JobListApi, JobResultsApi, OutcomeJobCreateApi

urlpatterns = [
    path("jobs/", JobListApi.as_view(), name="jobs"),
    path("outcomes/jobs/", OutcomeJobCreateApi.as_view(), name="outcome-jobs"),
    path("jobs/<uuid:job_id>/", JobDetailApi.as_view(), name="job"),
    path("jobs/<uuid:job_id>/results/", JobResultsApi.as_view(), name="job-results"),
    path("jobs/<uuid:job_id>/errors/", JobErrorsApi.as_view(), name="job-errors"),
    path("jobs/<uuid:job_id>/cancel/", JobCancelApi.as_view(), name="job-cancel"),
]
