"""The dashboard's Jobs page and the JSON it polls (the session's user: staff see all jobs)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from jobs import selectors

RECENT = 50


@login_required
def jobs_page(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/jobs.html", {})


@login_required
@never_cache
def jobs_data(request: HttpRequest) -> JsonResponse:
    jobs = list(selectors.jobs_visible_to(request.user)[:RECENT])
    bodies = [selectors.job_body(job) for job in jobs]
    for job, body in zip(jobs, bodies, strict=True):
        body["fileName"] = job.file_name
        body["recentErrors"] = [selectors.error_body(e) for e in selectors.job_errors(job)[:5]]
    return JsonResponse({"jobs": bodies})
