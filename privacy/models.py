from __future__ import annotations

from django.db import models


class Erasure(models.Model):
    """The audit entry of one erasure: who, when, the object type and how many rows went
    from each place. Never the object's id: the entry must not keep what was erased."""

    object_type = models.CharField(max_length=100)
    objects_requested = models.PositiveIntegerField(default=1, help_text="How many object ids were named.")
    counts = models.JSONField(default=dict, help_text="Rows (or result lines) removed, by place.")
    total = models.PositiveIntegerField(default=0)
    actor = models.CharField(max_length=200, help_text="Admin user, API token or the command's --as.")
    source = models.CharField(max_length=10)  # api | command
    erased_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-erased_at"]
        permissions = [("erase_object", "Can erase everything stored about a CRM object")]

    def __str__(self) -> str:
        return f"{self.erased_at:%Y-%m-%d %H:%M} {self.actor}: {self.total} row(s) of {self.object_type}"
