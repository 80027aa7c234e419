from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Bulk scoring jobs"

    def ready(self) -> None:
        # The places a job keeps an object's id, erased with the object (core/objects.py).
        from core.objects import register_eraser, register_rows
        from jobs.models import JobRowError
        from jobs.services import job_inputs_erase, job_results_erase

        register_rows(JobRowError, type_field="job__object_type")
        register_eraser("jobs.JobChunk.output", job_results_erase)
        register_eraser("jobs.JobChunk.input", job_inputs_erase)
