"""Profile bulk scoring in process with cProfile: one job of N lead rows created through the
service (`jobs.services.job_create`) and every chunk scored and committed by the worker's
service (`chunk_score`), no broker, no HTTP. Prints CPU per row and the top functions, and
writes the cProfile summary to bench/profiles/jobs-<N>.txt.

    .venv/bin/python bench/profile_jobs.py [N]        # default 50,000 rows
    PROFILE=0 .venv/bin/python bench/profile_jobs.py  # timings without the profiler's overhead

Uses the same environment as bench/run.py (DATABASE_URL when set, else SQLite under
bench/.work/var-profile).
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# bench/profile.py would shadow the standard library's `profile` that cProfile imports.
sys.path[0] = str(BENCH.parent)

import cProfile  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402

from bench import run  # noqa: E402


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    run.WORK.mkdir(exist_ok=True)
    env = run.service_env(quick=False, var_dir=run.WORK / "var-profile")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    run.setup_django(env)
    from bench.jobs import lead_files
    from jobs.models import Job, JobChunk
    from jobs.services import chunk_score, job_create
    from predictions.models import PredictionLog

    PredictionLog.objects.filter(object_type="profile-lead").delete()
    Job.objects.all().delete()
    raw, _ = lead_files(rows)
    started = time.perf_counter()
    with raw.open("rb") as f:
        job = job_create(model_id=run.MODEL_ID, upload=f, file_name=raw.name, size=raw.stat().st_size,
                         created_by="profile", id_column="lead_id", object_type="profile-lead")
    upload = time.perf_counter() - started
    chunk_ids = list(JobChunk.objects.filter(job=job).values_list("pk", flat=True))
    profiler = cProfile.Profile()
    cpu, wall = time.process_time(), time.perf_counter()
    profiling = os.environ.get("PROFILE", "1") != "0"
    if profiling:
        profiler.enable()
    for chunk_id in chunk_ids:
        chunk_score(chunk_id=chunk_id)
    if profiling:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    job.refresh_from_db()
    logged = PredictionLog.objects.filter(object_type="profile-lead").count()
    assert job.status == "succeeded" and logged == rows, (job.status, logged)
    out = io.StringIO()
    if not profiling:
        print(f"{rows:,} rows: scoring {wall:.2f} s wall, {cpu:.2f} s CPU ({cpu / rows * 1e6:.1f} us CPU/row, "
              f"{rows / wall:,.0f} rows/s) without the profiler; load {run.load_average()}")
        return
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
    summary = (f"{rows:,} rows, {len(chunk_ids)} chunks ({connection_vendor()}); upload {upload:.2f} s "
               f"({upload / rows * 1e6:.1f} us/row); scoring {wall:.2f} s wall, {cpu:.2f} s CPU "
               f"({cpu / rows * 1e6:.1f} us CPU/row, {rows / wall:,.0f} rows/s); load {run.load_average()}")
    print(summary)
    print(out.getvalue()[:6000])
    target = BENCH / "profiles" / f"jobs-{rows}.txt"
    target.write_text(summary + "\n\n" + out.getvalue())
    print(f"Wrote {target}")


def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor


if __name__ == "__main__":
    main()
