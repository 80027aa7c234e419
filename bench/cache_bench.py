"""Cache hit versus cache miss on lead-scoring-v1, over HTTP, in one run.

    .venv/bin/python bench/cache_bench.py [--duration 12] [--rounds 3] [--workers 3] [--connections 8]

Starts gunicorn (several workers, a private SQLite database and var dir under a temp dir)
on a free 127.0.0.1 port, once on the in-process cache and once on a private redis-server,
and drives it with wrk (https://github.com/wg/wrk; `apt-get install wrk`):

- hit:  the same features every request, so after the first one every request is a hit;
- miss: different features every request (a per-thread counter in the budget), on an
        emptied cache, so every request misses, runs the model and stores its answer;
- outage (Redis only): the hit phase again with the redis-server hung (SIGSTOP), then
        killed: the in-process cache stands in and no request may fail.

Hit and miss alternate in rounds so that other load on the machine falls on both alike.
It prints latency (p50, p99, and the answers' own processingTime) and throughput per phase
with the miss/hit ratios, then each cache operation and the model call timed alone (the
HTTP figures carry the database writes and, on a shared machine, much queueing). It checks
the cache's own counters (GET /api/v1/cache/stats/, summed over all workers on Redis)
against the requests wrk made. `run()` returns the same figures for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MODEL = "lead-scoring-v1"
LEAD = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
        "job_title": "VP of Sales", "budget": 120000}

# wrk runs this per thread; `done` prints the figures as one JSON line for us to read.
WRK_SCRIPT = """
local mode, token, features, base = "%(mode)s", "%(token)s", '%(features)s', %(base)d
local counter, threads, next_id = 0, {}, 0
times = {}  -- global: done() reads each thread's copy with thread:get
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token " .. token

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

function request()
  local body = features
  if mode == "miss" then
    counter = counter + 1
    -- every request of every thread and round a budget of its own, so every request misses
    body = string.gsub(features, '"budget": *[0-9.]+', '"budget": ' .. (base + tid * 10000000 + counter))
  end
  return wrk.format(nil, "/api/v1/predictions/", nil, '{"modelId": "%(model)s", "features": ' .. body .. '}')
end

-- the service's own processingTime of each answer: its time without the queueing
function response(status, headers, body)
  local t = string.match(body, '"processingTime":%%s*([0-9.eE+-]+)')
  if t then times[#times + 1] = tonumber(t) end
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for _, t in ipairs(thread:get("times") or {}) do all[#all + 1] = t end
  end
  table.sort(all)
  local function pct(p) if #all == 0 then return 0 end return all[math.max(1, math.ceil(#all * p / 100))] end
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "mean_us": %%f, ' ..
    '"errors": %%d, "non_2xx": %%d, "server_p50_ms": %%f, "server_p99_ms": %%f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect + e.read + e.write + e.timeout, e.status, pct(50), pct(99)))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """gunicorn serving the project from a private var dir, on one cache backend."""

    def __init__(self, workdir: Path, workers: int) -> None:
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        self.env.update(HOTCRM_VAR_DIR=str(workdir / "var"), CACHE_KEY_PREFIX=f"cache-bench-{os.getpid()}",
                        LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="hotcrm_ai.settings",
                        PYTHONWARNINGS="ignore")
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self.token = ""

    def manage(self, *args: str) -> str:
        done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True)
        return done.stdout

    def prepare(self) -> None:
        self.manage("migrate", "--noinput")
        self.manage("train_builtin_models", "--if-missing", "--only", MODEL)
        name = f"bench-{time.time_ns()}"
        self.token = self.manage("create_api_token", name, "--staff").strip().splitlines()[-1]

    def start(self, redis_url: str | None) -> None:
        self.env.pop("REDIS_URL", None)
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.process = subprocess.Popen(
            [str(Path(PYTHON).parent / "gunicorn"), "hotcrm_ai.wsgi", "--config", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--log-level", "warning"],
            cwd=ROOT, env=self.env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.call("GET", "/api/v1/cache/stats/")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("gunicorn did not come up") from None
                time.sleep(0.2)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir(exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()
            self.process = None


def wrk(service: Service, mode: str, duration: int, connections: int, workdir: Path,
        base: int = 0) -> dict[str, Any]:
    """`base` keeps a miss round's budgets apart from every other round's."""
    script = workdir / f"wrk-{mode}.lua"
    script.write_text(WRK_SCRIPT % {"mode": mode, "token": service.token, "model": MODEL,
                                    "features": json.dumps(LEAD), "base": base})
    threads = max(1, min(2, connections))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
         "-s", str(script), f"http://127.0.0.1:{service.port}/api/v1/predictions/"],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
    line = next(line for line in out.stdout.splitlines() if line.startswith("WRK-JSON "))
    figures = json.loads(line.removeprefix("WRK-JSON "))
    seconds = figures["duration_us"] / 1e6
    return {
        "requests": figures["requests"],
        "throughput": figures["requests"] / seconds,
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "failed": figures["errors"] + figures["non_2xx"],
        "server_p50_ms": figures["server_p50_ms"],
        "server_p99_ms": figures["server_p99_ms"],
    }


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one phase: throughput over their whole time, latencies the rounds' median."""
    seconds = sum(r["requests"] / r["throughput"] for r in rounds)
    return {
        "requests": sum(r["requests"] for r in rounds),
        "throughput": sum(r["requests"] for r in rounds) / seconds,
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "server_p50_ms": statistics.median(r["server_p50_ms"] for r in rounds),
        "server_p99_ms": statistics.median(r["server_p99_ms"] for r in rounds),
        "failed": sum(r["failed"] for r in rounds),
    }


def measure(service: Service, duration: int, rounds: int, connections: int, workdir: Path,
            redis: RedisServer | None) -> list[dict[str, Any]]:
    # Hit and miss phases alternate in rounds, so that load from elsewhere on the machine
    # falls on both alike.
    step = max(1, duration // rounds)
    service.call("DELETE", "/api/v1/cache/")
    # Warm-up: on the in-process cache each worker has its own, so every worker must miss once.
    for _ in range(4 * service.workers):
        service.call("POST", "/api/v1/predictions/", {"modelId": MODEL, "features": LEAD})
    measured: dict[str, list[dict[str, Any]]] = {"hit": [], "miss": []}
    counted = {"hit": [0, 0], "miss": [0, 0]}
    for n in range(rounds):
        for mode in ("hit", "miss"):
            before = service.call("GET", "/api/v1/cache/stats/")
            measured[mode].append(wrk(service, mode, step, connections, workdir, base=n * 100_000_000))
            after = service.call("GET", "/api/v1/cache/stats/")
            counted[mode][0] += after["hits"] - before["hits"]
            counted[mode][1] += after["misses"] - before["misses"]
    backend = service.call("GET", "/api/v1/cache/stats/")["backend"]
    rows = [
        combine(measured[mode]) | {"phase": mode, "backend": backend, "counted_hits": counted[mode][0],
                                   "counted_misses": counted[mode][1]}
        for mode in ("hit", "miss")
    ]
    if redis is not None:
        # Hung (SIGSTOP: connections accepted, never answered), then killed: no request may
        # fail, and a hung Redis may cost each worker one socket timeout per retry window.
        for phase, action in (("hit, Redis hung", redis.pause), ("hit, Redis killed", redis.stop)):
            action()
            row = combine([wrk(service, "hit", step, connections, workdir)])
            row |= {"phase": phase, "backend": service.call("GET", "/api/v1/cache/stats/")["backend"],
                    "counted_hits": None, "counted_misses": None}
            rows.append(row)
    return rows


def operations_here(iterations: int = 2000) -> list[dict[str, Any]]:
    """Run inside a prepared environment (see `operations`): what a hit costs and what it saves,
    one operation at a time, without HTTP, the database writes or the queueing around them."""
    import django

    django.setup()
    from core.cache import CachedAnswer, Entry, shared_cache
    from predictions.providers import provider_for
    from predictions.services import cache_key
    from registry.selectors import model_get

    manager, model = shared_cache(), model_get(MODEL)
    hit_key, answer = cache_key(model, LEAD), CachedAnswer({"score": 50.0, "class": "warm"}, 50.0)
    manager.store([Entry(hit_key, answer, 600)])
    provider = provider_for(model)
    steps = {
        "cache lookup, hit": lambda: manager.lookup([hit_key]),
        "cache lookup, miss": lambda: manager.lookup(["pred:bench:absent"]),
        "cache store": lambda: manager.store([Entry("pred:bench:stored", answer, 600)]),
        "cache lookup, 100 rows": lambda: manager.lookup([f"pred:bench:{i}" for i in range(100)]),
        "model call (a miss's work)": lambda: provider.predict_batch(model, [LEAD]),
    }
    rows = []
    for name, step in steps.items():
        step()
        times = []
        for _ in range(iterations):
            started = time.perf_counter()
            step()
            times.append((time.perf_counter() - started) * 1e6)
        times.sort()
        rows.append({"backend": manager.backend, "operation": name,
                     "p50_us": times[len(times) // 2], "p99_us": times[int(len(times) * 0.99)]})
    return rows


def operations(service: Service, redis_url: str | None) -> list[dict[str, Any]]:
    env = dict(service.env)
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([PYTHON, __file__, "--operations-here"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"timing the cache operations failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(duration: int = 12, workers: int = 3, connections: int = 8, rounds: int = 3,
        ops: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The HTTP rows; with `ops` a list, the single-operation rows are appended to it."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench/cache_bench.py needs wrk on the PATH: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="hotcrm-cache-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        backends: list[str] = ["memory"]
        if shutil.which("redis-server"):
            backends.append("redis")
        else:
            print("redis-server not found: measuring the in-process cache only.", file=sys.stderr)
        service = Service(workdir, workers)
        service.prepare()
        for backend in backends:
            redis = RedisServer(workdir) if backend == "redis" else None
            if redis:
                redis.start()
            try:
                if ops is not None:
                    ops += operations(service, redis.url if redis else None)
                service.start(redis.url if redis else None)
                rows += measure(service, duration, rounds, connections, workdir, redis)
            finally:
                service.stop()
                if redis:
                    redis.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def report(rows: list[dict[str, Any]], workers: int, connections: int, duration: int, rounds: int) -> str:
    lines = [
        f"Cache hit vs miss, {MODEL} over HTTP: gunicorn {workers} sync workers, wrk {connections} "
        f"connections, {duration} s per phase in {rounds} alternating rounds, {os.cpu_count()} CPU(s), "
        f"load average {os.getloadavg()[0]:.1f}",
        "",
        f"{'backend':<8} {'phase':<20} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'svc p50':>8} {'svc p99':>8} {'failed':>7} {'counted hits/misses':>20}",
    ]
    for r in rows:
        counted = "" if r["counted_hits"] is None else f"{r['counted_hits']}/{r['counted_misses']}"
        if r["backend"] == "memory" and counted:
            counted = "per worker only"
        lines.append(
            f"{r['backend']:<8} {r['phase']:<20} {r['requests']:>9} {r['throughput']:>8.1f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['server_p50_ms']:>8.2f} {r['server_p99_ms']:>8.2f} "
            f"{r['failed']:>7} {counted:>20}"
        )
    lines += [
        "",
        "p50/p99: latency wrk saw (queueing included); svc: the answers' own processingTime (the",
        "pipeline inside the service). Each the median over the rounds. counted: the cache's own",
        "hit/miss counters over the phase (GET /api/v1/cache/stats/), all workers together on Redis.",
        "",
    ]
    by = {(r["backend"], r["phase"]): r for r in rows}
    for backend in dict.fromkeys(r["backend"] for r in rows if r["phase"] == "hit"):
        hit, miss = by.get((backend, "hit")), by.get((backend, "miss"))
        if hit and miss:
            lines.append(
                f"{backend}: miss/hit latency {ratio(miss['p50_ms'], hit['p50_ms'])} at p50, "
                f"{ratio(miss['p99_ms'], hit['p99_ms'])} at p99; service time {ratio(miss['server_p50_ms'], hit['server_p50_ms'])} "
                f"at p50; hit/miss throughput {ratio(hit['throughput'], miss['throughput'])} (miss = baseline)"
            )
    return "\n".join(lines)


def report_operations(ops: list[dict[str, Any]]) -> str:
    lines = ["One operation at a time, in one process (2000 times each):", "",
             f"{'backend':<8} {'operation':<28} {'p50 us':>9} {'p99 us':>9}"]
    lines += [f"{o['backend']:<8} {o['operation']:<28} {o['p50_us']:>9.1f} {o['p99_us']:>9.1f}" for o in ops]
    return "\n".join(lines)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=12, help="seconds per phase (all rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating hit/miss rounds")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--operations-here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.operations_here:  # the child process of `operations`
        print(json.dumps(operations_here()))
        return 0
    ops: list[dict[str, Any]] = []
    rows = run(args.duration, args.workers, args.connections, args.rounds, ops)
    print(report(rows, args.workers, args.connections, args.duration, args.rounds))
    print()
    print(report_operations(ops))
    return 1 if any(r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
