"""Admin: drift references (upload a CSV sample for a model; the API's checks and service)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest

from hotcrm_ai.errors import ApplicationError
from monitoring.models import DriftReference
from monitoring.references import csv_rows, drift_reference_set, reference_rows
from registry.audit import actor_of
from registry.models import MLModel


class DriftReferenceForm(forms.ModelForm):
    file = forms.FileField(help_text="CSV: a header row of feature names, one input per line.")

    class Meta:
        model = DriftReference
        fields = ["model"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[dict[str, Any]] = []

    def validate_unique(self) -> None:
        pass  # a new upload replaces the model's reference

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        model, upload = data.get("model"), data.get("file")
        if isinstance(model, MLModel) and upload is not None:
            limit = settings.HOTCRM["DRIFT_REFERENCE_MAX_BYTES"]
            try:
                if upload.size > limit:
                    raise ApplicationError(f"The file has {upload.size:,} bytes; the limit is {limit:,}.")
                self.rows = reference_rows(model, csv_rows(model, upload.read()))
            except ApplicationError as exc:
                self.add_error("file", exc.message)
        return data


@admin.register(DriftReference)
class DriftReferenceAdmin(admin.ModelAdmin):
    """Each model's uploaded sample of what its inputs should look like (monitoring.drift)."""

    form = DriftReferenceForm
    list_display = ["model", "row_count", "source", "uploaded_at", "uploaded_by"]
    readonly_fields = ["row_count", "source", "uploaded_at", "uploaded_by"]

    def has_change_permission(self, request: HttpRequest, obj: DriftReference | None = None) -> bool:
        return False  # upload a new one instead: the rows are checked as a whole

    def save_model(self, request: HttpRequest, obj: DriftReference, form: Any, change: bool) -> None:
        # The form checked the rows (reference_rows); the service stores them, replacing any.
        saved = drift_reference_set(model=obj.model, rows=form.rows, source="csv",
                                    uploaded_by=actor_of(request, "admin").name)
        obj.pk = saved.pk
