"""Profile the hot path in process with pyinstrument: N requests through the real WSGI
application (middleware, auth, view, pipeline, recording), no network.

    .venv/bin/python bench/profile.py [cached|uncached|batch] [N]
    PROFILE=0 .venv/bin/python bench/profile.py batch 200    # CPU per request, no profiler

With the profiler, writes the summary to bench/profiles/<case>.txt. With PROFILE=0 it prints
the CPU each request costs: this process (every thread, so the write-behind flushes count)
and, on PostgreSQL, the database backend serving it (/proc/<pid>/stat), with every buffered
log row and metric stored before the clock stops. CPU, not wall time: the machine is shared.
Uses the same environment as bench/run.py (DATABASE_URL / REDIS_URL when set, else the
embedded default in bench/.work/var).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench import run  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int | None) -> float:
    """Seconds of CPU the database backend `pid` has used (utime + stime); NaN once it is
    gone (its connection was closed or killed: the figure would be wrong, not low)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICK


def backend_pid(connection) -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def main() -> None:
    case = sys.argv[1] if len(sys.argv) > 1 else "cached"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    profiling = os.environ.get("PROFILE", "1") != "0"
    run.WORK.mkdir(exist_ok=True)
    run.setup_django(run.service_env(quick=False))
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from pyinstrument import Profiler

    from core.write_behind import flush_all

    app = get_wsgi_application()
    key = run.token()
    path = "/api/v1/predictions/" + ("batch/" if case == "batch" else "")
    batch_body = json.dumps({"modelId": run.MODEL_ID, "features": run.batch_rows(1000), "useCache": False}).encode()

    def body(i: int) -> bytes:
        if case == "batch":
            return batch_body  # as bench/run.py's wrk sends it: the same body every time
        features = run.LEAD if case == "cached" else {**run.LEAD, "budget": time.time_ns() // 1000 % 10**9 + i}
        return json.dumps({"modelId": run.MODEL_ID, "features": features}).encode()

    def call(i: int) -> None:
        data = body(i)
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr,
            "HTTP_AUTHORIZATION": f"Token {key}",
        }
        statuses = []
        chunks = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(chunks)
        chunks.close()  # as a WSGI server does: fires request_finished (after-response work)
        if not statuses[0].startswith("200"):
            raise RuntimeError(statuses[0])

    for i in range(20):
        call(i)
    flush_all()
    pid = backend_pid(connection)
    connection.close_at = None  # one backend for the whole run: CONN_MAX_AGE would replace it midway
    profiler = Profiler(interval=0.0002)
    load = run.load_average()
    started, cpu, db_cpu = time.perf_counter(), time.process_time(), backend_cpu(pid)
    if profiling:
        profiler.start()
    for i in range(n):
        call(i)
    flush_all()  # every row recorded before the clock stops
    if profiling:
        profiler.stop()
    wall = (time.perf_counter() - started) / n * 1000
    cpu = (time.process_time() - cpu) / n * 1000
    db_cpu = (backend_cpu(pid) - db_cpu) / n * 1000
    if pid is not None and backend_pid(connection) != pid:
        db_cpu = float("nan")  # a new connection: the old backend's CPU is lost
    summary = (f"{case}: {n} requests in process ({connection.vendor}), {wall:.3f} ms wall each; CPU "
               f"{cpu:.2f} ms (process) + {db_cpu:.2f} ms (database backend) = {cpu + db_cpu:.2f} ms a request"
               f"{' (profiler on)' if profiling else ''}; load {load} -> {run.load_average()}")
    print(summary)
    if not profiling:
        return
    out = BENCH / "profiles" / f"{case}.txt"
    out.parent.mkdir(exist_ok=True)
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    out.write_text(f"{summary}\n\n{text}")
    print(out.read_text()[:8000])


if __name__ == "__main__":
    main()
