"""The registry audit trail: one RegistryChange row per changed setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models as djmodels
from django.utils import timezone

from core.secrets import public_provider_config
from registry.models import MLModel, RegistryChange


@dataclass(frozen=True)
class Actor:
    name: str
    source: str  # admin | api | system


SYSTEM = Actor("system", "system")
# Never the values: which credentials are set is all the trail may say.
CREDENTIALS = "credentials"
AUDITED_FIELDS = [
    f.name for f in MLModel._meta.fields
    if f.name not in {"credentials_encrypted", "revision", "created_at", "updated_at"}
]


def actor_of(request: Any, source: str) -> Actor:
    user = getattr(request, "user", None)
    name = getattr(user, "username", "") or str(user or "") or "anonymous"
    return Actor(name[:200], source)


def snapshot(model: MLModel) -> dict[str, Any]:
    """The audited settings as JSON values (foreign keys as ids)."""
    out = {}
    for name in AUDITED_FIELDS:
        field = model._meta.get_field(name)
        value = getattr(model, field.attname)  # type: ignore[union-attr]  # audited fields are concrete
        out[name] = value if not isinstance(field, djmodels.DateTimeField) else str(value)
    # The trail is read by more people than the credentials are meant for.
    out["provider_config"] = public_provider_config(out.get("provider_config"))
    return out


def changes_record(
    *, model_id: str, action: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
    actor: Actor, credentials_changed: list[str] | None = None,
) -> list[RegistryChange]:
    now = timezone.now()
    rows = []
    names = sorted(set(before or {}) | set(after or {}))
    for name in names:
        old, new = (before or {}).get(name), (after or {}).get(name)
        if action == RegistryChange.Action.UPDATE or action == RegistryChange.Action.PROMOTE:
            if old == new:
                continue
        elif action == RegistryChange.Action.CREATE and new in (None, "", {}, []):
            continue
        rows.append(RegistryChange(model_id=model_id, action=action, field=name, old_value=old,
                                   new_value=new, actor=actor.name, source=actor.source, changed_at=now))
    if credentials_changed is not None:
        rows.append(RegistryChange(
            model_id=model_id, action=action, field=CREDENTIALS, old_value=None,
            new_value={"set": credentials_changed}, actor=actor.name, source=actor.source, changed_at=now,
        ))
    if action == RegistryChange.Action.DELETE:
        rows = [RegistryChange(model_id=model_id, action=action, field="", old_value=before,
                               new_value=None, actor=actor.name, source=actor.source, changed_at=now)]
    return RegistryChange.objects.bulk_create(rows)
