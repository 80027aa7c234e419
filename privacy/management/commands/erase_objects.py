"""Erase everything stored about a list of CRM objects, like DELETE /objects/{type}/{id}/."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from hotcrm_ai.errors import ApplicationError
from privacy.services import objects_check, objects_erase
from registry.audit import Actor

# Ids per transaction (and per audit entry): a long list does not hold one huge transaction.
GROUP = 500


def read_ids(path: Path) -> list[str]:
    """One id a line; blank lines skipped; the line's ending and surrounding spaces dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


class Command(BaseCommand):
    help = ("Erase every stored row that names the given objects (prediction log, job results and "
            "errors), audited without the ids. Ids on the command line or one a line in --ids-file.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("ids", nargs="*", help="Object ids.")
        parser.add_argument("--type", required=True, dest="object_type", help="Their objectType (lead, account…).")
        parser.add_argument("--ids-file", type=Path, help="A text file of ids, one a line.")
        parser.add_argument("--as", dest="actor", default="cli", help="Who the audit trail records.")

    def handle(self, *args, ids: list[str], object_type: str, ids_file: Path | None, actor: str, **options) -> str:
        ids = list(dict.fromkeys(ids + (read_ids(ids_file) if ids_file else [])))
        if not ids:
            raise CommandError("Name at least one id, on the command line or in --ids-file.")
        who = Actor(f"cli:{actor}"[:200], "command")
        totals: dict[str, int] = {}
        try:
            objects_check(object_type, ids)  # every id first: a bad line stops nothing half-way
            for start in tqdm(range(0, len(ids), GROUP), unit="group", disable=None, file=self.stderr._out):
                erasure = objects_erase(object_type=object_type, object_ids=ids[start:start + GROUP], actor=who)
                for place, count in erasure.counts.items():
                    totals[place] = totals.get(place, 0) + count
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        detail = ", ".join(f"{place} {count}" for place, count in totals.items())
        return f"{len(ids)} {object_type} object(s) erased: {sum(totals.values())} row(s) ({detail})"
