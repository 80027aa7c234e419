"""Apply the retention settings now, as the scheduled task does (privacy.purge_expired)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from privacy.services import expired_purge


class Command(BaseCommand):
    help = ("Remove prediction-log rows and finished jobs past PREDICTION_LOG_RETENTION_DAYS, "
            "OUTCOME_RETENTION_DAYS and JOB_RETENTION_DAYS, in small batches.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-rows", type=int, help="Rows per batch (default RETENTION_BATCH_ROWS).")
        parser.add_argument("--pause", type=float, help="Seconds between batches (default RETENTION_BATCH_PAUSE).")

    def handle(self, *args, batch_rows: int | None, pause: float | None, **options) -> str:
        with tqdm(unit="row", disable=None, file=self.stderr._out) as bar:
            result = expired_purge(batch_rows=batch_rows, pause=pause, on_batch=bar.update)
        detail = ", ".join(f"{what} {count}" for what, count in result.removed.items())
        return f"{result.total} removed ({detail}) in {result.batches} batches, {result.seconds} s"
