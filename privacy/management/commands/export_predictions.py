"""Archive prediction-log rows to a gzip JSON Lines file, before retention removes them."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from privacy.archive import archive_rows, archive_write


def moment(text: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC unless it names its zone)."""
    try:
        value = parse_datetime(text) or (datetime.combine(day, time.min) if (day := parse_date(text)) else None)
    except ValueError:
        value = None
    if value is None:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD) or date-time (ISO 8601).")
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


class Command(BaseCommand):
    help = ("Write the prediction-log rows created in [--since, --until) to a gzip JSON Lines file, "
            "oldest first, one row per line (privacy/archive.py names the fields).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", type=moment, help="First day or moment (inclusive); default: the first row.")
        parser.add_argument("--until", type=moment, help="Last day or moment (exclusive); default: now.")
        parser.add_argument("--output", type=Path, required=True, help="The file to write (FILE.jsonl.gz).")

    def handle(self, *args, since, until, output: Path, **options) -> str:
        until = until or timezone.now()
        if since is not None and since >= until:
            raise CommandError("--since must be before --until.")
        partial = output.with_name(output.name + ".partial")
        try:
            with gzip.open(partial, "wt", encoding="utf-8") as out:
                rows = tqdm(archive_rows(since, until), unit="row", disable=None, file=self.stderr._out)
                written = archive_write(rows, out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}") from None
        os.replace(partial, output)  # a file under the final name is always complete
        return f"{written} prediction(s) written to {output}"
