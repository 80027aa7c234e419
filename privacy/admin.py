from __future__ import annotations

from django.contrib import admin

from privacy.models import Erasure


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin):
    """The erasure audit trail: read only (an entry is written by the erasure itself)."""

    COLUMNS = ("erased_at", "actor", "source", "object_type", "objects_requested", "total")
    list_display = COLUMNS
    list_filter = ("source", "object_type")
    readonly_fields = (*COLUMNS, "counts")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
