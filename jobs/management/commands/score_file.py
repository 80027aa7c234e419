"""Score a file as a bulk job from the shell: submits it like POST /jobs/, follows it with a
progress bar while the workers score it, and writes the results file."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from hotcrm_ai.errors import ApplicationError
from jobs import selectors, services
from jobs.models import Job, JobStatus


class Command(BaseCommand):
    help = "Score a CSV or JSON Lines file (gzip too) with a model as a bulk job and write the results."

    def add_arguments(self, parser) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("--model", required=True, help="The model id.")
        parser.add_argument("--id-column", default="", help="The column whose value is each row's objectId.")
        parser.add_argument("--object-type", default="", help="objectType of the rows (lead, account…).")
        parser.add_argument("--output", type=Path, required=True, help="Where the results CSV goes.")
        parser.add_argument("--max-error-rate", type=float, default=5.0)
        parser.add_argument("--as", dest="owner", default="cli", help="Who the job is recorded as created by.")

    def handle(self, *args, **options) -> str:
        path: Path = options["input"]
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        try:
            with path.open("rb") as upload:
                job = services.job_create(
                    model_id=options["model"], upload=upload, file_name=path.name, size=path.stat().st_size,
                    created_by=f"cli:{options['owner']}"[:150], id_column=options["id_column"],
                    object_type=options["object_type"], max_error_rate=options["max_error_rate"],
                )
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        job = self._follow(job)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"Job {job.pk} {job.status}: {job.error or 'see its errors'}")
        with options["output"].open("wb") as out:
            for part in selectors.job_results_stream(job):
                out.write(part)
        return (f"Job {job.pk}: {job.rows_done} rows scored, {job.rows_failed} failed, "
                f"{job.rows_per_second()} rows/s; results in {options['output']}")

    def _follow(self, job: Job) -> Job:
        with tqdm(total=job.rows_total, unit="row", desc=f"job {str(job.pk)[:8]}", disable=None,
                  file=self.stderr._out) as bar:
            while True:
                job.refresh_from_db()
                bar.update(job.rows_processed - bar.n)
                if not job.is_active:
                    return job
                time.sleep(0.5)
