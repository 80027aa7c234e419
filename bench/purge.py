"""Retention purge under traffic: 1,000,000 prediction-log rows past their retention are
removed by the purge (`manage.py purge_expired`, the body of the scheduled task) while
single predictions are served over HTTP by gunicorn; the p99 of those predictions must not
double against the same traffic without the purge.

    .venv/bin/python bench/purge.py                  # 1,000,000 rows; writes its section of bench/RESULTS.md
    .venv/bin/python bench/purge.py --rows 100000    # shorter (not written to RESULTS.md)

Phases, one server throughout: warm-up; BEFORE (traffic alone, --seconds); PURGE (traffic
while the purge runs, until it ends); AFTER (traffic alone again, --seconds). The baseline
is BEFORE and AFTER together, so a machine whose load drifts during the run is seen on both
sides. Traffic is an open loop at --rate requests/s (each request sent at its time slot
whatever the previous answers did), distinct features each request, each with an objectId
so it is logged as CRM traffic is. With DATABASE_URL / REDIS_URL set the service uses them;
otherwise SQLite and the in-process cache in a temp dir.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.env import bench_env  # noqa: E402
from bench.load import Gunicorn, bodies, prepare  # noqa: E402
from bench.results import section_write  # noqa: E402
from bench.run import machine  # noqa: E402

PYTHON = Path(sys.executable)
SECTION = "## Retention purge"

# Loads old rows through the log's own multi-row INSERT (core.write_behind.insert_rows):
# uuid7 ids minted at each row's own (old) time, 91-200 days ago, no outcome.
LOADER = r"""
import random, sys, uuid, django
django.setup()
from datetime import timedelta
from django.utils import timezone
from core.write_behind import insert_rows
from predictions.models import PredictionLog
from predictions.recording import LogRow

total, step = int(sys.argv[1]), 20_000
rng = random.Random(7)
now = timezone.now()
industries = ["Technology", "Finance", "Retail", "Education"]
done = 0
while done < total:
    rows = []
    for i in range(done, min(total, done + step)):
        at = now - timedelta(days=91, seconds=rng.randrange(0, 109 * 86400))
        ms = int(at.timestamp() * 1000)
        rand = rng.getrandbits(74)
        value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
        score = rng.randrange(0, 101)
        rows.append(LogRow(
            id=uuid.UUID(int=value), model_id="lead-scoring-v1", model_version="1.0.0",
            requested_model_id="lead-scoring-v1", ab_arm="", provider="local",
            features={"company_size": rng.randrange(1, 5000), "industry": industries[i % 4],
                      "engagement_score": score, "job_title": "VP of Sales", "budget": 1000 * (i % 300)},
            prediction={"score": score, "class": "hot" if score > 70 else "warm" if score > 40 else "cold"},
            label="warm", confidence=float(score), cached=False, shadow=False, user_id="", object_type="lead",
            object_id=f"OLD-{i}", created_at=at, actual=None, feedback_at=None,
        ))
    insert_rows(PredictionLog, PredictionLog._meta.concrete_fields, rows, durable=False)
    done += len(rows)
    print(f"loaded {done}", flush=True)
"""

# The scheduled task's service, started once Django is up (its start-up is not the purge).
PURGE = r"""
import sys, time, django
django.setup()
from privacy.services import expired_purge
batch_rows = int(sys.argv[1]) or None
pause = float(sys.argv[2]) if sys.argv[2] != "-" else None
print("started", flush=True)
result = expired_purge(batch_rows=batch_rows, pause=pause)
print(f"{result.total} removed ({result.removed}) in {result.batches} batches, {result.seconds} s", flush=True)
"""

COUNT = r"""
import django; django.setup()
from predictions.models import PredictionLog
print(PredictionLog.objects.count())
"""


class Traffic:
    """Open-loop single predictions at a fixed rate over keep-alive connections; each
    latency is kept with the phase it was sent in."""

    def __init__(self, url: str, key: str, rate: float, senders: int, request_bodies: list[str]) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        self.headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
        self.interval = senders / rate
        self.bodies = request_bodies
        self.senders = senders
        self.phase = "warmup"
        self.samples: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(senders)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _body(self) -> bytes:
        with self._lock:
            self._next += 1
            return self.bodies[self._next % len(self.bodies)].encode()

    def _run(self, n: int) -> None:
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        slot = time.monotonic() + n * self.interval / self.senders
        while not self._stop.is_set():
            delay = slot - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            slot += self.interval
            phase, body = self.phase, self._body()
            started = time.perf_counter()
            try:
                connection.request("POST", "/api/v1/predictions/", body=body, headers=self.headers)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            with self._lock:
                if ok:
                    self.samples.setdefault(phase, []).append(elapsed)
                else:
                    self.errors[phase] = self.errors.get(phase, 0) + 1


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def run_python(code: str, env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(PYTHON), "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return result.stdout


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="old log rows to purge")
    parser.add_argument("--rate", type=float, default=40.0, help="predictions per second during every phase")
    parser.add_argument("--seconds", type=int, default=60, help="length of BEFORE and of AFTER")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--batch-rows", type=int, help="RETENTION_BATCH_ROWS (default: the setting's)")
    parser.add_argument("--pause", type=float, help="RETENTION_BATCH_PAUSE (default: the setting's)")
    args = parser.parse_args()

    env, work = bench_env("purge")
    backend = "PostgreSQL + Redis" if env.get("DATABASE_URL") else "SQLite + in-process cache"
    print(f"setting up in {work} ({backend})", flush=True)
    key = prepare(env)
    if env.get("DATABASE_URL"):  # a database reused between runs starts empty of log rows
        run_python("import django; django.setup(); from predictions.models import PredictionLog;"
                   "PredictionLog.objects.all()._raw_delete('default')", env)
    started = time.monotonic()
    run_python(LOADER, env, str(args.rows))
    load_seconds = time.monotonic() - started
    print(f"  {args.rows:,} old rows loaded in {load_seconds:.0f} s", flush=True)

    purge_cmd = [str(PYTHON), "-c", PURGE, str(args.batch_rows or 0), "-" if args.pause is None else str(args.pause)]

    server = Gunicorn("hotcrm_ai.wsgi", env, args.workers, work / "service.log")
    traffic = None
    try:
        server.wait("/api/v1/models/", {"Authorization": f"Token {key}"})
        traffic = Traffic(server.url, key, args.rate, senders=8, request_bodies=bodies(200_000, seed=11))
        traffic.start()
        time.sleep(10)
        loads = {"before": load_average()}
        traffic.phase = "before"
        time.sleep(args.seconds)
        purge = subprocess.Popen(purge_cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        # The purge process's own start-up (Django, a few CPU-seconds) is neither baseline nor
        # purge: counted as "before" it made the baseline's tail longer, the ratio smaller.
        traffic.phase = "purge-startup"
        assert purge.stdout is not None
        if purge.stdout.readline().strip() != "started":
            raise RuntimeError(purge.communicate()[1][-3000:])
        traffic.phase = "purge"
        loads["purge"] = load_average()
        purge_started = time.monotonic()
        purged = purge.stdout.readline().strip()
        traffic.phase = "after"
        purge_seconds = time.monotonic() - purge_started
        if purge.wait():
            raise RuntimeError(purge.communicate()[1][-3000:])
        loads["after"] = load_average()
        time.sleep(args.seconds)
        loads["end"] = load_average()
    finally:
        if traffic is not None:
            traffic.stop()
        server.stop()
    left = int(run_python(COUNT, env).strip().splitlines()[-1])
    shutil.rmtree(work, ignore_errors=True)

    baseline = traffic.samples.get("before", []) + traffic.samples.get("after", [])
    during = traffic.samples.get("purge", [])
    base_p99, purge_p99 = p99(baseline), p99(during)
    ratio = purge_p99 / base_p99
    settings_used = run_python("import django; django.setup(); from django.conf import settings as s;"
                               "print(s.HOTCRM['RETENTION_BATCH_ROWS'], s.HOTCRM['RETENTION_BATCH_PAUSE'])", env).split()
    batch_rows = args.batch_rows or int(settings_used[0])
    pause = args.pause if args.pause is not None else float(settings_used[1])
    errors = sum(traffic.errors.values())
    met = ratio < 2 and errors == 0
    row = (f"| {backend} | {args.rows:,} rows in {purge_seconds:.0f} s ({args.rows / purge_seconds:,.0f} rows/s); "
           f"{batch_rows} rows a batch, {pause:g} s pause | {len(baseline):,} / {len(during):,} "
           f"| {statistics.median(baseline):.1f} -> {statistics.median(during):.1f} ms "
           f"| **{base_p99:.1f} -> {purge_p99:.1f} ms** | {ratio:.2f}x: {'met' if met else 'MISSED'} |")
    notes = [
        f"- {backend}: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; machine {machine()}; gunicorn "
        f"{args.workers} workers; {args.rate:g} predictions/s open loop; baseline = {args.seconds} s before + "
        f"{args.seconds} s after the purge ({len(traffic.samples.get('purge-startup', []))} answered while the purge "
        f"process started, in neither); load average (1/5/15) before {loads['before']}, at the purge's start "
        f"{loads['purge']}, after it {loads['after']}; errors {traffic.errors or 0}; rows left after the purge: "
        f"{left}; purge said: {purged}",
    ]
    if base_p99 > 20 * statistics.median(baseline):
        notes[-1] += (f"; the baseline p99 is {base_p99 / statistics.median(baseline):.0f}x its p50: the machine's "
                      "load, not the service, sets the tail, so this run cannot show a small effect of the purge")
    print("\n" + row + "\n" + "\n".join(notes))
    if args.rows == 1_000_000:
        write_results(backend, row, notes)
    return 0 if met and left < args.rows else 1


def write_results(backend: str, row: str, notes: list[str]) -> None:
    """Keep the other database's line of the section; replace this one's."""
    path = BENCH / "RESULTS.md"
    header = [
        SECTION, "",
        "1,000,000 prediction-log rows past PREDICTION_LOG_RETENTION_DAYS removed by `expired_purge` (the body "
        "of the scheduled task `privacy.purge_expired` and of `manage.py purge_expired`) while single predictions "
        "are served over HTTP; target: the p99 of those predictions does not double. Command: `make bench-purge` "
        "(`.venv/bin/python bench/purge.py`), once embedded and once with DATABASE_URL / REDIS_URL set.", "",
        "| database | purge | requests (baseline / during) | p50 baseline -> during | p99 baseline -> during | ratio |",
        "|---|---|---|---|---|---|",
    ]

    def section(old: str | None) -> str:
        lines = (old or "").split("\n")
        old_rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith(("| database", "|---"))
                    and not ln.startswith(f"| {backend} ")]
        old_notes = [ln for ln in lines if ln.startswith("- ") and not ln.startswith(f"- {backend}:")]
        return "\n".join([*header, *sorted([*old_rows, row]), "", *sorted([*old_notes, *notes]), ""])

    section_write(path, SECTION, section)
    print(f"Wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
