"""Bounded load test: the service under gunicorn on loopback, driven by wrk at the highest
rate this machine sustains (closed loop: every connection sends its next request as soon as
the last is answered), for 60 s. Prints the rate, every error, and the memory of the
gunicorn processes before and after, beside a baseline measured in the same run: a bare
WSGI app under the same gunicorn settings (what the machine can serve at all).

    .venv/bin/python bench/load.py                  # 60 s, the issue's test
    .venv/bin/python bench/load.py --duration 10    # shorter

Exit status 1 when any request failed or memory grew more than --max-growth (default 10 %).
With DATABASE_URL / REDIS_URL set the service uses them; otherwise SQLite and the
in-process cache in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench.env import bench_env  # noqa: E402

PYTHON = Path(sys.executable)
GUNICORN = PYTHON.parent / "gunicorn"
INDUSTRIES = ["Technology", "Finance", "Healthcare", "Manufacturing", "Retail", "Education", "Other"]
TITLES = ["VP of Sales", "Sales Manager", "CEO", "Marketing Intern", "Director of IT", "Analyst"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bodies(n: int, seed: int = 7) -> list[str]:
    """n distinct prediction requests over three models."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 3 == 0:
            features = {"company_size": rng.randint(1, 5000), "industry": rng.choice(INDUSTRIES),
                        "engagement_score": rng.randint(0, 100), "job_title": rng.choice(TITLES),
                        "budget": rng.randint(1000, 500000)}
            model = "lead-scoring-v1"
        elif i % 3 == 1:
            features = {"account_age": rng.randint(1, 120), "support_tickets": rng.randint(0, 30),
                        "usage_frequency": rng.randint(0, 60), "nps_score": rng.randint(-100, 100),
                        "payment_delays": rng.randint(0, 6)}
            model = "churn-prediction-v1"
        else:
            features = {"text": rng.choice(["Great support, thanks!", "The export keeps failing.",
                                            "It is fine I guess", "Love the new dashboard"]) + f" #{i}"}
            model = "sentiment-analysis-v1"
        out.append(json.dumps({"modelId": model, "features": features,
                               "context": {"objectType": "lead", "objectId": str(i)}}))
    return out


class Gunicorn:
    def __init__(self, app: str, env: dict[str, str], workers: int, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [str(GUNICORN), app, "--config", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--log-level", "warning", "--no-control-socket"],
            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, path: str, headers: dict[str, str], body: bytes | None = None, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log}:\n{self.log.read_text()[-2000:]}")
            try:
                request = urllib.request.Request(self.url + path, data=body, headers=headers)
                with urllib.request.urlopen(request, timeout=60) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"no answer from {self.url}{path}")

    def pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [self.proc.pid, *map(int, children)]

    def rss_mib(self) -> float:
        """Resident memory of the master and its workers together."""
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wrk(url: str, *, seconds: int, connections: int, script: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
        env=os.environ | env, capture_output=True, text=True, check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith(("LOAD_JSON ", "BASE_JSON ")))
    data = json.loads(line.split(" ", 1)[1])
    data["rate"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = sum(data.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors",
                                                    "status_errors", "timeouts"))
    return data


def prepare(env: dict[str, str]) -> str:
    """Migrate, make sure the built-in models are trained (bench.env.builtin_models_ready), and
    create an unthrottled token."""
    script = (
        "import django, time; django.setup(); from bench.env import builtin_models_ready; builtin_models_ready();"
        "from apiauth.services import token_create;"
        "print(token_create(name=f'load-{time.time_ns()}', throttle_rate='1000000000/day')[1])"
    )
    result = subprocess.run([str(PYTHON), "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=1800)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return result.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--connections", type=int, default=0, help="default: 4 per worker")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of load before measuring memory")
    parser.add_argument("--max-growth", type=float, default=10.0, help="allowed memory growth in %% (default 10)")
    parser.add_argument("--baseline-seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: run `bash scripts/setup-bench` (Debian's wrk package)", file=sys.stderr)
        return 2
    connections = args.connections or 4 * args.workers
    env, work = bench_env("load")
    print(f"setting up in {work} (database: {'DATABASE_URL' if env.get('DATABASE_URL') else 'SQLite'}, "
          f"cache: {'Redis' if env.get('REDIS_URL') else 'in-process'})", flush=True)
    started = time.monotonic()
    key = prepare(env)
    print(f"  ready in {time.monotonic() - started:.0f} s", flush=True)
    body_file = work / "bodies.jsonl"
    body_file.write_text("\n".join(bodies(3000)))
    headers = {"Authorization": f"Token {key}", "Content-Type": "application/json"}

    # Baseline: a bare WSGI app, same gunicorn settings and workers.
    base = Gunicorn("bench.bare_wsgi:application", env, args.workers, work / "bare.log")
    try:
        base.wait("/", {})
        baseline = wrk(base.url + "/", seconds=args.baseline_seconds, connections=connections,
                       script=BENCH / "bare.lua", env={})
    finally:
        base.stop()

    server = Gunicorn("hotcrm_ai.wsgi", env, args.workers, work / "service.log")
    try:
        server.wait("/api/v1/models/", headers)
        load_env = {"LOAD_TOKEN": key, "LOAD_BODIES": str(body_file)}
        wrk(server.url, seconds=args.warmup, connections=connections, script=BENCH / "load.lua", env=load_env)
        rss_before = server.rss_mib()
        pids_before = server.pids()
        result = wrk(server.url, seconds=args.duration, connections=connections, script=BENCH / "load.lua",
                     env=load_env)
        rss_after = server.rss_mib()
        restarted = server.pids() != pids_before
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    growth = (rss_after - rss_before) / rss_before * 100
    print(f"\nLoad: {args.duration} s, {connections} connections, {args.workers} gunicorn workers, "
          f"loopback, {os.cpu_count()} cores")
    print(f"  predictions      {result['requests']:>8} requests  {result['rate']:8.1f} req/s  "
          f"p50 {result['p50_us'] / 1000:.1f} ms  p99 {result['p99_us'] / 1000:.1f} ms")
    print(f"  bare WSGI        {baseline['requests']:>8} requests  {baseline['rate']:8.1f} req/s  (baseline)")
    print(f"  ratio            {result['rate'] / baseline['rate']:.3f} of the bare-WSGI rate")
    print(f"  errors           {result['errors']} (connect {result['connect_errors']}, read {result['read_errors']}, "
          f"write {result['write_errors']}, non-2xx {result['status_errors']}, timeouts {result['timeouts']})")
    print(f"  memory (RSS, master + workers)  before {rss_before:.1f} MiB  after {rss_after:.1f} MiB  "
          f"growth {growth:+.1f} %")
    print(f"  workers restarted during the run: {'yes' if restarted else 'no'}")
    ok = result["errors"] == 0 and growth <= args.max_growth and not restarted
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
