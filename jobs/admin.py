from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from hotcrm_ai.errors import ApplicationError
from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs are created through the API or `score_file`; the admin follows and cancels them."""

    list_display = ("id", "kind", "model_id", "status", "progress_bar", "rows_done", "rows_failed", "rows_total",
                    "created_by", "created_at")
    list_filter = ("kind", "status", "model_id")
    search_fields = ("id", "model_id", "created_by", "file_name")
    actions = ["cancel_selected"]
    readonly_fields = [f.name for f in Job._meta.fields]
    exclude = ("columns", "result_columns")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="progress")
    def progress_bar(self, job: Job) -> str:
        percent = job.progress()
        return format_html(
            '<progress max="100" value="{}" title="{}%" style="width:8em"></progress> {}%', percent, percent, percent,
        )

    @admin.action(description="Cancel the selected jobs")
    def cancel_selected(self, request, queryset) -> None:
        from jobs.services import job_cancel

        cancelled = 0
        for job in queryset.filter(status__in=["queued", "running"]):
            try:
                job_cancel(job=job)
            except ApplicationError:  # finished meanwhile
                continue
            cancelled += 1
        self.message_user(request, f"{cancelled} job(s) cancelled.")
