"""The places that may name a CRM object (an objectType and an objectId, "lead L-1001"), so
that everything stored about one object can be erased on request (privacy.services).

Each app registers its places when it is ready (its AppConfig.ready): a table whose rows
name an object (`register_rows`: those rows are deleted), or an eraser for data that names
it inside a value (`register_eraser`: a stored results file loses the object's lines). A new
table that stores object ids joins erasure by registering here; tests/privacy scans every
text, JSON and binary column of every table after an erasure and fails on any trace.

A row whose object type is empty names the id with no type ("objectId" sent without
"objectType"): it may be the object, so it is erased with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class Objects:
    """Objects of one type, by id: the unit erasure works on (one, or many from a file)."""

    type: str
    ids: Collection[str]


# Removes what it holds about the objects; answers how many rows (or lines) went.
Eraser = Callable[[Objects], int]
_erasers: dict[str, Eraser] = {}


def register_eraser(label: str, eraser: Eraser) -> None:
    """`label` names the place in an erasure's counts, e.g. "jobs.JobChunk.output"."""
    _erasers[label] = eraser


def register_rows(model: type[models.Model], *, id_field: str = "object_id",
                  type_field: str = "object_type") -> None:
    """Rows of `model` whose `id_field` is the object's id and whose `type_field` (a lookup
    path, e.g. "job__object_type") is its type or empty name the object."""

    def erase(objects: Objects) -> int:
        rows = model._base_manager.filter(**{f"{id_field}__in": list(objects.ids),
                                             f"{type_field}__in": [objects.type, ""]})
        return rows.delete()[1].get(model._meta.label, 0)

    register_eraser(model._meta.label, erase)


def object_erasers() -> dict[str, Eraser]:
    """Every registered place, by label, in the order they were registered."""
    return dict(_erasers)
