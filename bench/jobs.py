"""Bulk scoring benchmark (`make bench-jobs`): a 1,000,000-row lead CSV scored end to end
(upload -> every chunk scored and logged -> results file downloaded) with one Celery worker
and with two, beside MLflow's own batch scorer (`mlflow models predict`) on the same fitted
pipeline in the same run; the workers' peak RSS; and the synchronous 1,000-row batch
endpoint beside `mlflow models serve` (as bench/run.py measures it).

    .venv/bin/python bench/jobs.py               # writes the "Bulk scoring jobs" part of bench/RESULTS.md
    .venv/bin/python bench/jobs.py --rows 50000  # a shorter run (not written to RESULTS.md)

Each worker is one Celery worker process (`--pool solo`); the service is gunicorn. With
DATABASE_URL / REDIS_URL set they are used (production layout: PostgreSQL COPY, Redis
broker); otherwise the embedded default (SQLite, filesystem broker) under bench/.work/.
MLflow reads our own numeric encoding of the rows (it cannot parse job titles), so it is
given the easier job; we read the raw CRM columns.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.env import bench_env  # noqa: E402
from bench.results import section_write  # noqa: E402
from bench.run import (  # noqa: E402
    INDUSTRIES,
    MLFLOW_VENV,
    MODEL_ID,
    ROOT,
    TITLES,
    WORK,
    batch_rows,
    check,
    gunicorn,
    lead_predictor,
    load_average,
    machine,
    mlflow_body,
    mlflow_ensure,
    mlflow_serve,
    post,
    ratio,
    setup_django,
    token,
    verdict,
    wrk,
)

CELERY = ROOT / ".venv" / "bin" / "celery"
HEADER = ["lead_id", "company_size", "industry", "engagement_score", "job_title", "budget"]


def lead_files(rows: int) -> tuple[Path, Path]:
    """The raw lead CSV (ours) and the same rows encoded for the MLflow pipeline (theirs)."""
    raw, encoded = WORK / f"leads-{rows}.csv", WORK / f"leads-{rows}-encoded.csv"
    if raw.exists() and encoded.exists():
        return raw, encoded
    from ml.builtin.leads import LEAD_COLUMNS, encode_leads

    rng = random.Random(17)
    with raw.open("w", newline="") as r, encoded.open("w", newline="") as e:
        raw_writer, enc_writer = csv.writer(r), csv.writer(e)
        raw_writer.writerow(HEADER)
        enc_writer.writerow([c.replace("=", "_") for c in LEAD_COLUMNS])
        for start in range(0, rows, 50_000):
            block = [{"company_size": rng.randint(1, 20_000), "industry": rng.choice(INDUSTRIES),
                      "engagement_score": rng.randint(0, 100), "job_title": rng.choice(TITLES),
                      "budget": float(rng.randint(0, 500_000))} for _ in range(min(50_000, rows - start))]
            raw_writer.writerows([f"L-{start + i}", b["company_size"], b["industry"], b["engagement_score"],
                                  b["job_title"], b["budget"]] for i, b in enumerate(block))
            enc_writer.writerows(encode_leads(block).tolist())
    return raw, encoded


class PeakRss:
    """The largest resident set any of the given processes reached (VmHWM, kernel-kept)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def mb(self) -> float:
        peak = 0
        for pid in self.pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
            except OSError:
                continue
        return peak / 1024


def start_workers(n: int, env: dict[str, str]) -> list[subprocess.Popen]:
    procs = []
    for i in range(n):
        log = (WORK / f"celery-{i}.log").open("w")
        procs.append(subprocess.Popen(
            [str(CELERY), "-A", "hotcrm_ai", "worker", "--pool", "solo", "--hostname", f"bench{i}@%h",
             "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    time.sleep(6)  # Django and the model load before the first task is taken
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def run_job(app_url: str, key: str, path: Path, rows: int, workers: int, env: dict[str, str]) -> dict:
    procs = start_workers(workers, env)
    rss = PeakRss([p.pid for p in procs])
    load_before = load_average()
    try:
        started = time.perf_counter()
        with httpx.Client(base_url=app_url, headers={"Authorization": f"Token {key}"}, timeout=600) as http:
            with path.open("rb") as f:
                response = http.post("/api/v1/jobs/", files={"file": (path.name, f, "text/csv")},
                                     data={"modelId": MODEL_ID, "idColumn": "lead_id", "objectType": "bench-lead"})
            assert response.status_code == 202, response.text
            job = response.json()
            uploaded = time.perf_counter() - started
            while job["status"] in ("queued", "running"):
                time.sleep(0.5)
                job = http.get(f"/api/v1/jobs/{job['id']}/").json()
            scored = time.perf_counter() - started
            assert job["status"] == "succeeded", job
            out = WORK / f"results-{workers}.csv"
            lines = 0
            with http.stream("GET", job["resultsUrl"]) as stream, out.open("wb") as f:
                for part in stream.iter_bytes():
                    f.write(part)
                    lines += part.count(b"\n")
            total = time.perf_counter() - started
    finally:
        peak = rss.mb()
        stop_workers(procs)
    logged = logged_rows(job["id"])
    return {"job": job, "seconds": total, "upload": uploaded, "scored": scored, "rows_per_s": rows / total,
            "rss_mb": peak, "result_lines": lines - 1, "logged": logged, "load": f"{load_before} -> {load_average()}"}


def logged_rows(job_id: str) -> tuple[int, int]:
    """(prediction-log rows, metric rows counted) of the bench's objects: every row once?"""
    from django.db import connection
    from django.db.models import Sum

    from monitoring.models import Metric
    from predictions.models import PredictionLog

    connection.close()
    logs = PredictionLog.objects.filter(object_type="bench-lead").count()
    metrics = Metric.objects.filter(model_id=MODEL_ID, kind="prediction", latency_ms__gte=0).aggregate(n=Sum("rows"))
    return logs, metrics["n"] or 0


def forget_job_rows() -> None:
    """Each run starts from the same database size: earlier runs' rows are removed."""
    from jobs.models import Job
    from monitoring.models import Metric
    from predictions.models import PredictionLog

    PredictionLog.objects.filter(object_type="bench-lead").delete()
    Metric.objects.filter(model_id=MODEL_ID).delete()
    Job.objects.all().delete()


def mlflow_predict(encoded: Path) -> float:
    python = mlflow_ensure()
    target = WORK / "mlflow-model"
    if not (target / "MLmodel").exists():
        import pickle

        from ml.builtin.leads import LEAD_COLUMNS

        (WORK / "lead-pipeline.pkl").write_bytes(pickle.dumps(lead_predictor().model.pipeline))
        subprocess.run([str(python), str(BENCH / "mlflow_export.py"), str(WORK / "lead-pipeline.pkl"), str(target),
                        ",".join(c.replace("=", "_") for c in LEAD_COLUMNS)], check=True, capture_output=True)
    out = WORK / "mlflow-predictions.csv"
    env = dict(os.environ) | {"PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run([str(MLFLOW_VENV / "bin" / "mlflow"), "models", "predict", "-m", str(target), "-i", str(encoded),
                    "-o", str(out), "-t", "csv", "--env-manager", "local"], check=True, env=env,
                   capture_output=True, cwd=WORK)
    return time.perf_counter() - started


def sync_batches(env: dict[str, str], key: str, seconds: float, workers: int) -> tuple:
    batch = batch_rows(1000)
    app = gunicorn("service-jobs-bench", "hotcrm_ai.settings", env, workers)
    try:
        url = f"{app.url}/api/v1/predictions/batch/"
        body = {"modelId": MODEL_ID, "features": batch, "useCache": False}
        status, _, _ = post(url, body, key)
        assert status == 200
        ours = wrk(url, body, connections=4, seconds=seconds, token=key)
    finally:
        app.stop()
    server, columns = mlflow_serve(workers)
    try:
        theirs = wrk(f"{server.url}/invocations", mlflow_body(columns, batch), connections=4, seconds=seconds)
    finally:
        server.stop()
    return ours, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10, help="length of each synchronous batch run")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    env, _ = bench_env("jobs", WORK / "var-jobs")
    setup_django(env)
    key = token()
    print(f"Jobs benchmark on {machine()}; load average {load_average()}", flush=True)
    raw, encoded = lead_files(args.rows)
    app = gunicorn("service-jobs", "hotcrm_ai.settings", env, 1)
    runs = {}
    try:
        for workers in (1, 2):
            forget_job_rows()
            runs[workers] = run_job(app.url, key, raw, args.rows, workers, env)
            r = runs[workers]
            print(f"  {workers} worker(s): {r['seconds']:.1f} s end to end ({r['rows_per_s']:,.0f} rows/s; upload "
                  f"{r['upload']:.1f} s, scored at {r['scored']:.1f} s), peak RSS {r['rss_mb']:.0f} MB, "
                  f"logged {r['logged']}, load {r['load']}", flush=True)
    finally:
        app.stop()
    load_before = load_average()
    mlflow_seconds = mlflow_predict(encoded)
    mlflow_load = f"{load_before} -> {load_average()}"
    print(f"  mlflow models predict: {mlflow_seconds:.1f} s ({args.rows / mlflow_seconds:,.0f} rows/s), load {mlflow_load}",
          flush=True)
    ours_sync, theirs_sync = sync_batches(env, key, args.seconds, 2)
    failures = []
    for load, what in ((ours_sync, "batches"), (theirs_sync, "MLflow batches")):
        class R:
            failures: list = []
        check(load, what, R)
        failures += R.failures
    for workers, r in runs.items():
        if r["result_lines"] != args.rows or r["logged"] != (args.rows, args.rows):
            failures.append(f"{workers} worker(s): {r['result_lines']} result lines, logged {r['logged']}, "
                            f"wanted {args.rows} each")
    write(args, runs, mlflow_seconds, mlflow_load, ours_sync, theirs_sync, failures)
    return 1 if failures else 0


def write(args, runs, mlflow_seconds, mlflow_load, ours_sync, theirs_sync, failures) -> None:
    one, two = runs[1], runs[2]
    mlflow_rate = args.rows / mlflow_seconds
    backend = ("PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite") + " + " + (
        "Redis broker" if os.environ.get("REDIS_URL") else "filesystem broker")
    rows = [
        ("1,000,000-row lead CSV, 1 worker, end to end", f"{one['rows_per_s']:,.0f} rows/s ({one['seconds']:.0f} s)",
         f"`mlflow models predict` {mlflow_rate:,.0f} rows/s ({mlflow_seconds:.0f} s)",
         f"{ratio(one['rows_per_s'], mlflow_rate):.2f}x", f">= 1x: {verdict(one['rows_per_s'] >= mlflow_rate)}"),
        ("same, 2 workers", f"{two['rows_per_s']:,.0f} rows/s ({two['seconds']:.0f} s)",
         f"1 worker {one['rows_per_s']:,.0f} rows/s", f"{ratio(two['rows_per_s'], one['rows_per_s']):.2f}x",
         f">= 1.7x: {verdict(two['rows_per_s'] >= 1.7 * one['rows_per_s'])}"),
        ("peak worker RSS (1 / 2 workers)", f"{one['rss_mb']:.0f} / {two['rss_mb']:.0f} MB", "", "",
         f"< 500 MB: {verdict(max(one['rss_mb'], two['rss_mb']) < 500)}"),
        ("sync 1,000-row batches (rows/s)", f"{ours_sync.rps * 1000:,.0f}", f"`mlflow models serve` {theirs_sync.rps * 1000:,.0f}",
         f"{ratio(ours_sync.rps, theirs_sync.rps):.2f}x", f">= 3x: {verdict(ours_sync.rps >= 3 * theirs_sync.rps)}"),
    ]
    text = [
        "## Bulk scoring jobs" + ("" if args.rows == 1_000_000 else f" ({args.rows:,} rows: not the target size)"),
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; machine: {machine()}",
        f"- Service: {backend}; gunicorn 1 worker takes the upload; each worker is one `celery worker --pool solo`"
        f" process; chunks of {os.environ.get('JOB_CHUNK_ROWS', '5000')} rows. Sync batches: gunicorn 2 workers vs"
        " `mlflow models serve -w 2`, wrk 4 connections.",
        f"- Load average (1/5/15) before -> after: 1 worker {one['load']}; 2 workers {two['load']}; "
        f"MLflow predict {mlflow_load}; sync batches {ours_sync.load_before} -> {ours_sync.load_after}, "
        f"MLflow serve {theirs_sync.load_before} -> {theirs_sync.load_after}",
        f"- End to end = upload (1 worker: {one['upload']:.1f} s, 2: {two['upload']:.1f} s) + scoring + downloading"
        f" the results; every row checked in the results ({one['result_lines']:,} / {two['result_lines']:,} lines) "
        f"and in the prediction log and metric row counts ({one['logged']} / {two['logged']}).",
        "- MLflow reads our numeric encoding of the same rows (precomputed, not timed); we read the raw CRM columns.",
        "",
        "| measure | ours | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
        *(f"- FAILED: {f}" for f in failures),
        "Command: `make bench-jobs` (`.venv/bin/python bench/jobs.py`).",
        "",
    ]
    print("\n".join(text))
    output = args.output or (BENCH / "RESULTS.md" if args.rows == 1_000_000 else WORK / "RESULTS-jobs.md")
    section_write(output, "## Bulk scoring jobs", "\n".join(text))
    print(f"Wrote {output}")


if __name__ == "__main__":
    sys.exit(main())
