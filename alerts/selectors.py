"""Alert reads: incidents for the API, the admin and the dashboard timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from alerts.models import Incident

SHOWN = [Incident.Status.FIRING, Incident.Status.RESOLVED]


def incident_list(*, model_id: str | None = None, status: str | None = None) -> QuerySet[Incident]:
    """Firing and resolved incidents, newest first (pending ones have told nobody yet)."""
    incidents = Incident.objects.filter(status__in=SHOWN).order_by("-fired_at", "-id")
    if model_id:
        incidents = incidents.filter(model_id=model_id)
    if status in SHOWN:
        incidents = incidents.filter(status=status)
    return incidents


def incident_timeline(model_id: str, *, days: int = 7, now: datetime | None = None) -> dict[str, Any]:
    """A model's incidents over the last `days`, as spans on a 0-100 % time axis."""
    now = now or timezone.now()
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()
    rows = incident_list(model_id=model_id).filter(fired_at__isnull=False).exclude(resolved_at__lt=start)[:200]
    items = []
    for incident in rows:
        assert incident.fired_at is not None  # filtered above
        begin = max(incident.fired_at, start)
        end = incident.resolved_at or now
        items.append({
            "incident": incident,
            "left": round(100 * (begin - start).total_seconds() / span, 3),
            "width": max(0.4, round(100 * (end - begin).total_seconds() / span, 3)),
        })
    return {"start": start, "end": now, "days": days, "items": items}
