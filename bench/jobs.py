"""Bulk scoring benchmark (`make bench-jobs`): a 1,000,000-row lead CSV scored end to end
(upload -> every chunk scored and logged -> results file downloaded) with one Celery worker
and with two, beside MLflow's own batch scorer (`mlflow models predict`) on the same fitted
pipeline in the same run; the workers' peak RSS; and the synchronous 1,000-row batch
endpoint beside `mlflow models serve` (as bench/run.py measures it).

    .venv/bin/python bench/jobs.py               # writes the "Bulk scoring jobs" part of bench/RESULTS.md
    .venv/bin/python bench/jobs.py --rows 50000  # a shorter run (not written to RESULTS.md)
    .venv/bin/python bench/jobs.py --jobs-only --rows 200000 --workers 1   # jobs only, one worker
    .venv/bin/python bench/jobs.py --sync-only   # only the synchronous batches beside MLflow serve

Each worker is one Celery worker process (`--pool solo`); the service is gunicorn. With
DATABASE_URL / REDIS_URL set they are used (production layout: PostgreSQL COPY, Redis
broker); otherwise the embedded default (SQLite, filesystem broker) under bench/.work/.
MLflow reads our own numeric encoding of the rows (it cannot parse job titles), so it is
given the easier job; we read the raw CRM columns.

Where the time goes: the CPU seconds (utime + stime from /proc) of the Celery workers,
gunicorn (master and workers) and, on PostgreSQL, the server backends of this database
(sampled every 0.1 s from pg_stat_activity), for the upload and for the scoring, per row; and
each worker's per-chunk stage times (jobs/stages.py, JOB_STAGE_LOG), summed over the chunks.
On a shared machine, judge by CPU per row and by ratios within one run, not by rows/s.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """A process's user + system CPU seconds so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def group_pids(pgid: int) -> list[int]:
    """The processes of one process group (a server or worker started in its own session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def pg_backends() -> Callable[[], list[int]] | None:
    """The server processes of this database (its connections and autovacuum), bar the
    sampler's own; None without DATABASE_URL. A backend living less than one sample interval
    is missed: the count of backends seen says whether connections are reused."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    import psycopg

    conn = psycopg.connect(url, autocommit=True)

    def pids() -> list[int]:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    return pids


class CpuMeter:
    """CPU seconds per part (workers, gunicorn, postgres) between two `take()`s, sampled in a
    thread so that processes which come and go (database backends) are counted too."""

    def __init__(self, parts: dict[str, Callable[[], list[int]]], interval: float = 0.1) -> None:
        self.parts, self.interval = parts, interval
        self.lock = threading.Lock()
        self.last: dict[tuple[str, int], float] = {}
        self.base: dict[tuple[str, int], float] = {}
        self.seen: dict[str, set[int]] = {part: set() for part in parts}
        self._sample(new_from_zero=False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self, new_from_zero: bool = True) -> None:
        for part, pids in self.parts.items():
            for pid in pids():
                value = cpu_seconds(pid)
                if value is None:
                    continue
                with self.lock:
                    # First seen after the start: it began since the last sample, all its CPU counts.
                    self.base.setdefault((part, pid), 0.0 if new_from_zero else value)
                    self.last[(part, pid)] = value
                    self.seen[part].add(pid)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self._sample()
            except Exception:  # a failed sample only loses precision
                continue

    def take(self) -> dict[str, float]:
        """CPU seconds per part since the previous take (or the start)."""
        self._sample()
        with self.lock:
            spent = {part: 0.0 for part in self.parts}
            for (part, pid), value in self.last.items():
                spent[part] += value - self.base.get((part, pid), value)
            self.base = dict(self.last)
            return spent

    def close(self) -> dict[str, int]:
        self.stop.set()
        self.thread.join(2)
        return {part: len(pids) for part, pids in self.seen.items()}


def stage_summary(path: Path, rows: int) -> list[tuple[str, int, float, float, float]]:
    """(stage, chunks, wall ms per chunk, CPU ms per chunk, wall us per row) from the workers'
    stage log, summed over every chunk of every worker."""
    import json

    totals: dict[str, list[float]] = {}
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        for stage, (wall, cpu) in json.loads(line)["stages"].items():
            t = totals.setdefault(stage, [0, 0.0, 0.0])
            t[0] += 1
            t[1] += wall
            t[2] += cpu
    return [(stage, int(n), wall / n, cpu / n, wall * 1000 / rows) for stage, (n, wall, cpu) in totals.items()]


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
    workers_ready(n)
    return procs


def workers_ready(n: int, timeout: float = 180) -> None:
    """Wait until every worker answers a ping (Django, the model and the broker connection
    loaded), so that no worker's start-up CPU falls into the measured job."""
    from hotcrm_ai.celery import app

    names = {f"bench{i}@{socket.gethostname()}" for i in range(n)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answered = {name for reply in app.control.ping(destination=list(names), timeout=1.0) for name in reply}
        if answered >= names:
            return
    raise RuntimeError(f"workers {sorted(names)} did not answer a ping within {timeout:.0f} s")


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def run_job(app, key: str, path: Path, rows: int, workers: int, env: dict[str, str]) -> dict:
    stages = WORK / f"stages-{workers}.jsonl"
    stages.unlink(missing_ok=True)
    procs = start_workers(workers, env | {"JOB_STAGE_LOG": str(stages)})
    rss = PeakRss([p.pid for p in procs])
    parts = {"workers": lambda: [pid for p in procs for pid in group_pids(p.pid)],
             "gunicorn": lambda: group_pids(app.proc.pid)}
    if (backends := pg_backends()) is not None:
        parts["postgres"] = backends
    meter = CpuMeter(parts)
    app_url = app.url
    load_before = load_average()
    try:
        started = time.perf_counter()
        meter.take()
        with httpx.Client(base_url=app_url, headers={"Authorization": f"Token {key}"}, timeout=600) as http:
            with path.open("rb") as f:
                response = http.post("/api/v1/jobs/", files={"file": (path.name, f, "text/csv")},
                                     data={"modelId": MODEL_ID, "idColumn": "lead_id", "objectType": "bench-lead"})
            assert response.status_code == 202, response.text
            job = response.json()
            uploaded, uploaded_at = time.perf_counter() - started, time.time()
            cpu_upload = meter.take()
            while job["status"] in ("queued", "running"):
                time.sleep(0.5)
                job = http.get(f"/api/v1/jobs/{job['id']}/").json()
            scored, scored_at = time.perf_counter() - started, time.time()
            cpu_scoring = meter.take()
            assert job["status"] == "succeeded", job
            out = WORK / f"results-{workers}.csv"
            lines = 0
            with http.stream("GET", job["resultsUrl"]) as stream, out.open("wb") as f:
                for part in stream.iter_bytes():
                    f.write(part)
                    lines += part.count(b"\n")
            total = time.perf_counter() - started
            cpu_download = meter.take()
    finally:
        peak = rss.mb()
        seen = meter.close()
        stop_workers(procs)
    logged = logged_rows(job["id"])
    return {"job": job, "seconds": total, "upload": uploaded, "scored": scored, "rows_per_s": rows / total,
            "rss_mb": peak, "result_lines": lines - 1, "logged": logged, "load": f"{load_before} -> {load_average()}",
            "cpu": {"upload": cpu_upload, "scoring": cpu_scoring, "download": cpu_download}, "processes": seen,
            "stages": stage_summary(stages, rows), "gaps": chunk_gaps(stages, uploaded_at, scored_at)}


def chunk_gaps(path: Path, uploaded_at: float, scored_at: float) -> tuple[float, float] | None:
    """Seconds from the upload's answer to the first chunk's start, and from the last
    chunk's end to the poll that saw the job succeed."""
    import json

    if not path.exists():
        return None
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    if not lines:
        return None
    starts = [x["at"] - sum(w for k, (w, _) in x["stages"].items() if k != "between_tasks") / 1000 for x in lines]
    return min(starts) - uploaded_at, scored_at - max(x["at"] for x in lines)


def cpu_lines(r: dict, rows: int) -> list[str]:
    """The run's CPU per row by part and phase, and the workers' stage times."""
    out = [f"  CPU per row (us; processes seen: {r['processes']}):"]
    for phase, spent in r["cpu"].items():
        total = sum(spent.values())
        parts = ", ".join(f"{part} {seconds / rows * 1e6:.1f}" for part, seconds in spent.items())
        out.append(f"    {phase}: {parts}; total {total / rows * 1e6:.1f} us/row ({total:.1f} s CPU)")
    if r["gaps"]:
        out.append(f"  first chunk started {r['gaps'][0]:.2f} s after the upload's answer; the poll saw the job"
                   f" succeed {r['gaps'][1]:.2f} s after the last chunk ended")
    if r["stages"]:
        out.append("  worker stages (summed over the chunks of every worker):")
        out.append("    stage | chunks | wall ms/chunk | CPU ms/chunk | wall us/row")
        out += [f"    {stage} | {n} | {wall:.1f} | {cpu:.1f} | {per_row:.2f}" for stage, n, wall, cpu, per_row in r["stages"]]
    return out


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
    parser.add_argument("--workers", default="1,2", help="worker counts to run the job with, comma-separated")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--jobs-only", action="store_true", help="the jobs and MLflow predict, no sync batches")
    only.add_argument("--sync-only", action="store_true", help="only the sync batches beside MLflow serve")
    parser.add_argument("--no-mlflow", action="store_true", help="jobs without `mlflow models predict`")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    env, _ = bench_env("jobs", WORK / "var-jobs")
    setup_django(env)
    key = token()
    print(f"Jobs benchmark on {machine()}; load average {load_average()}", flush=True)
    runs: dict[int, dict] = {}
    mlflow_seconds, mlflow_load = None, ""
    if not args.sync_only:
        raw, encoded = lead_files(args.rows)
        app = gunicorn("service-jobs", "hotcrm_ai.settings", env, 1)
        try:
            for workers in (int(w) for w in args.workers.split(",")):
                forget_job_rows()
                runs[workers] = run_job(app, key, raw, args.rows, workers, env)
                r = runs[workers]
                print(f"  {workers} worker(s): {r['seconds']:.1f} s end to end ({r['rows_per_s']:,.0f} rows/s; upload "
                      f"{r['upload']:.1f} s, scored at {r['scored']:.1f} s), peak RSS {r['rss_mb']:.0f} MB, "
                      f"logged {r['logged']}, load {r['load']}", flush=True)
                print("\n".join(cpu_lines(r, args.rows)), flush=True)
        finally:
            app.stop()
        if not args.no_mlflow:
            load_before = load_average()
            mlflow_seconds = mlflow_predict(encoded)
            mlflow_load = f"{load_before} -> {load_average()}"
            print(f"  mlflow models predict: {mlflow_seconds:.1f} s ({args.rows / mlflow_seconds:,.0f} rows/s), "
                  f"load {mlflow_load}", flush=True)
    failures = []
    sync = None
    if not args.jobs_only:
        sync = sync_batches(env, key, args.seconds, 2)
        for load, what in ((sync[0], "batches"), (sync[1], "MLflow batches")):
            class R:
                failures: list = []
            check(load, what, R)
            failures += R.failures
    for workers, r in runs.items():
        if r["result_lines"] != args.rows or r["logged"] != (args.rows, args.rows):
            failures.append(f"{workers} worker(s): {r['result_lines']} result lines, logged {r['logged']}, "
                            f"wanted {args.rows} each")
    write(args, runs, mlflow_seconds, mlflow_load, sync, failures)
    return 1 if failures else 0


def chunk_rows() -> str:
    from django.conf import settings

    return f"{settings.HOTCRM['JOB_CHUNK_ROWS']:,}"


def write(args, runs, mlflow_seconds, mlflow_load, sync, failures) -> None:
    one, two = runs.get(1), runs.get(2)
    backend = ("PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite") + " + " + (
        "Redis broker" if os.environ.get("REDIS_URL") else "filesystem broker")
    rows, loads, notes = [], [], []
    if one and mlflow_seconds:
        mlflow_rate = args.rows / mlflow_seconds
        rows.append((f"{args.rows:,}-row lead CSV, 1 worker, end to end",
                     f"{one['rows_per_s']:,.0f} rows/s ({one['seconds']:.0f} s)",
                     f"`mlflow models predict` {mlflow_rate:,.0f} rows/s ({mlflow_seconds:.0f} s)",
                     f"{ratio(one['rows_per_s'], mlflow_rate):.2f}x", f">= 1x: {verdict(one['rows_per_s'] >= mlflow_rate)}"))
    elif one:
        rows.append((f"{args.rows:,}-row lead CSV, 1 worker, end to end",
                     f"{one['rows_per_s']:,.0f} rows/s ({one['seconds']:.0f} s)", "", "", ""))
    if one and two:
        rows.append(("same, 2 workers", f"{two['rows_per_s']:,.0f} rows/s ({two['seconds']:.0f} s)",
                     f"1 worker {one['rows_per_s']:,.0f} rows/s", f"{ratio(two['rows_per_s'], one['rows_per_s']):.2f}x",
                     f">= 1.7x: {verdict(two['rows_per_s'] >= 1.7 * one['rows_per_s'])}"))
    if runs:
        counts = " / ".join(str(w) for w in runs)
        rows.append((f"peak worker RSS ({counts} workers)", " / ".join(f"{r['rss_mb']:.0f}" for r in runs.values()) + " MB",
                      "", "", f"< 500 MB: {verdict(max(r['rss_mb'] for r in runs.values()) < 500)}"))
        loads += [f"{w} worker(s) {r['load']}" for w, r in runs.items()]
        notes.append("- End to end = upload (" + ", ".join(f"{w} worker(s): {r['upload']:.1f} s" for w, r in runs.items())
                     + ") + scoring + downloading the results; every row checked in the results ("
                     + " / ".join(f"{r['result_lines']:,}" for r in runs.values()) + " lines) and in the prediction"
                     " log and metric row counts (" + " / ".join(str(r["logged"]) for r in runs.values()) + ").")
        notes.append("- MLflow reads our numeric encoding of the same rows (precomputed, not timed); we read the raw"
                     " CRM columns.")
    if mlflow_seconds:
        loads.append(f"MLflow predict {mlflow_load}")
    if sync:
        ours_sync, theirs_sync = sync
        rows.append(("sync 1,000-row batches (rows/s)", f"{ours_sync.rps * 1000:,.0f}",
                     f"`mlflow models serve` {theirs_sync.rps * 1000:,.0f}", f"{ratio(ours_sync.rps, theirs_sync.rps):.2f}x",
                     f">= 3x: {verdict(ours_sync.rps >= 3 * theirs_sync.rps)}"))
        loads += [f"sync batches {ours_sync.load_before} -> {ours_sync.load_after}",
                  f"MLflow serve {theirs_sync.load_before} -> {theirs_sync.load_after}"]
    breakdown = []
    for w, r in runs.items():
        breakdown += [f"{w} worker(s):", "", "```", *(line.strip() if not line.startswith("    ") else line[2:]
                                                     for line in cpu_lines(r, args.rows)), "```", ""]
    text = [
        "## Bulk scoring jobs" + ("" if args.rows == 1_000_000 and one and two and sync else
                                  f" ({args.rows:,} rows, workers {args.workers}"
                                  f"{', jobs only' if args.jobs_only else ''}{', sync only' if args.sync_only else ''}"
                                  ": not the full run)"),
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; machine: {machine()}",
        f"- Service: {backend}; gunicorn 1 worker takes the upload; each worker is one `celery worker --pool solo`"
        f" process; chunks of {chunk_rows()} rows. Sync batches: gunicorn 2 workers vs"
        " `mlflow models serve -w 2`, wrk 4 connections.",
        f"- Load average (1/5/15) before -> after: {'; '.join(loads)}",
        *notes,
        "",
        "| measure | ours | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
        *(["CPU per row by process and phase (utime + stime from /proc; postgres: this database's backends), and"
           " the workers' per-chunk stage times (jobs/stages.py):", "", *breakdown] if breakdown else []),
        *(f"- FAILED: {f}" for f in failures),
        "Command: `make bench-jobs` (`.venv/bin/python bench/jobs.py`).",
        "",
    ]
    print("\n".join(text))
    full = args.rows == 1_000_000 and one and two and sync
    output = args.output or (BENCH / "RESULTS.md" if full else WORK / "RESULTS-jobs.md")
    section_write(output, "## Bulk scoring jobs", "\n".join(text))
    print(f"Wrote {output}")


if __name__ == "__main__":
    sys.exit(main())
