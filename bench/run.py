"""HotCRM AI Cloud benchmark: one command, one run, every figure beside its baseline.

    .venv/bin/python bench/run.py            # full run, writes its section of bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # smoke run (seconds), no MLflow

Everything runs on loopback: each server (our service, the floor, MLflow) is started alone
under the same gunicorn worker count and measured by `wrk` from a separate process, then
stopped before the next one starts.

  1. cached single predictions on lead-scoring-v1: requests/s, p50, p99   vs the floor
  2. uncached single predictions (every request's features differ)        vs the floor, MLflow
  3. 1,000-row batches: rows/s, every row checked to be recorded          vs MLflow
  4. explanations: median ms per explanation                              vs shap's Exact explainer
  5. stats over 10,000 metrics: median ms

With DATABASE_URL / REDIS_URL set the service uses them (production layout); otherwise it
runs the embedded default (SQLite + in-process cache) in bench/.work/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import pickle
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.env import bench_env  # noqa: E402
from bench.results import section_write  # noqa: E402

ROOT = BENCH.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
MLFLOW_VENV = BENCH / ".mlflow-venv"
WORK = BENCH / ".work"
MODEL_ID = "lead-scoring-v1"
SECTION = "## Service over HTTP"  # of bench/RESULTS.md (bench/results.py)
LEAD = {"company_size": 250, "industry": "Technology", "engagement_score": 85,
        "job_title": "VP of Sales", "budget": 120000}
TITLES = ["VP of Sales", "Sales Manager", "CEO", "Marketing Intern", "Director of IT", "Analyst"]
INDUSTRIES = ["Technology", "Finance", "Healthcare", "Manufacturing", "Retail", "Education", "Other"]


# --- small helpers ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def post(url: str, body: Any, token: str = "", timeout: float = 60) -> tuple[int, Any, float]:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    return _send(request, timeout)


def get(url: str, token: str = "", timeout: float = 60) -> tuple[int, Any, float]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    return _send(urllib.request.Request(url, headers=headers), timeout)


def _send(request: urllib.request.Request, timeout: float) -> tuple[int, Any, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    elapsed = (time.perf_counter() - started) * 1000
    try:
        return status, json.loads(raw), elapsed
    except ValueError:
        return status, raw.decode(errors="replace"), elapsed


def load_average() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wait_for_workers(server: Server, workers: int, timeout: float = 180) -> None:
    """The port opens before the workers have loaded the application: wait until as many
    requests in a row as there are workers get an HTTP answer (any status)."""
    deadline = time.monotonic() + timeout
    answered = 0
    while answered < 2 * workers:
        if time.monotonic() > deadline or server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} does not answer HTTP")
        try:
            get(f"{server.url}/ping", timeout=30)
            answered += 1
        except OSError:
            answered = 0
            time.sleep(0.2)


def start_server(name: str, argv: list[str], env: dict[str, str], port: int, workers: int) -> Server:
    log = WORK / f"{name}.log"
    handle = log.open("w")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = Server(name, port, proc, log)
    try:
        wait_for_port(port, proc, timeout=180)
        wait_for_workers(server, workers)
    except RuntimeError:
        server.stop()
        raise RuntimeError(f"{name} did not start; see {log}:\n{log.read_text()[-3000:]}") from None
    return server


def gunicorn(name: str, settings: str, env: dict[str, str], workers: int) -> Server:
    port = free_port()
    env = env | {"DJANGO_SETTINGS_MODULE": settings}
    argv = [str(GUNICORN), "hotcrm_ai.wsgi", "--config", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning"]
    return start_server(name, argv, env, port, workers)


# --- load generation --------------------------------------------------------------------

@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    load_before: str
    load_after: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def median_run(runs: list[Load]) -> Load:
    """The run with the median requests/s (its own p50 and p99 with it)."""
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]


def wrk(url: str, body: Any, *, connections: int, seconds: float, token: str = "",
        distinct: bool = False, offset: int = 0) -> Load:
    body_file = WORK / "body.json"
    body_file.write_text(body if isinstance(body, str) else json.dumps(body))
    env = os.environ | {"BENCH_BODY": str(body_file), "BENCH_TOKEN": token,
                        "BENCH_MODE": "distinct" if distinct else "fixed", "BENCH_OFFSET": str(offset)}
    threads = min(2, connections)
    before = load_average()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(BENCH / "wrk.lua"), url],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {k: data[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
              if data[k]}
    return Load(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1000, data["p99_us"] / 1000,
                errors, before, load_average())


# --- the service under test -------------------------------------------------------------

def service_env(quick: bool, var_dir: Path | None = None) -> dict[str, str]:
    """bench.env.bench_env for run.py and the benches built on it; every run starts from an
    empty embedded database, so runs compare: the prediction log of earlier runs (hundreds
    of thousands of rows each) would slow this one."""
    env, _ = bench_env("bench", var_dir or WORK / ("var-quick" if quick else "var"))
    env.pop("DJANGO_SETTINGS_MODULE", None)  # gunicorn() sets it per server (the floor's differs)
    return env


def setup_django(env: dict[str, str]) -> None:
    os.environ.update({k: env[k] for k in ("CACHE_KEY_PREFIX", "HOTCRM_VAR_DIR", "SECRET_KEY") if k in env})
    os.environ["DJANGO_SETTINGS_MODULE"] = "hotcrm_ai.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from bench.env import builtin_models_ready

    builtin_models_ready()


def token() -> str:
    from apiauth.services import token_create

    _, key = token_create(name=f"bench-{time.time_ns()}")
    return key


def lead_predictor():
    from predictions.providers.local import LocalProvider
    from registry.models import MLModel

    return LocalProvider().predictor(MLModel.objects.get(pk=MODEL_ID))


def batch_rows(n: int, seed: int = 1) -> list[dict[str, Any]]:
    import random

    rng = random.Random(seed)
    return [
        {"company_size": rng.randint(1, 20_000), "industry": rng.choice(INDUSTRIES),
         "engagement_score": rng.randint(0, 100), "job_title": rng.choice(TITLES),
         "budget": float(rng.randint(0, 500_000))}
        for _ in range(n)
    ]


def recorded_rows(model_id: str) -> tuple[int, int]:
    """(prediction log rows, predictions the metrics count) of a model, read fresh from the
    database: a request's metric record carries its row count."""
    from django.db import connection
    from django.db.models import Sum

    from monitoring.models import Metric
    from predictions.models import PredictionLog

    connection.close()  # a new snapshot, not this process's view from before the run
    measured = Metric.objects.filter(model_id=model_id).aggregate(n=Sum("rows"))["n"] or 0
    return PredictionLog.objects.filter(model_id=model_id).count(), measured


# --- MLflow -----------------------------------------------------------------------------

def mlflow_ensure() -> Path:
    """MLflow in its own virtual environment, exactly bench/mlflow.lock (scikit-learn and numpy
    as in the project's lock, so the fitted pipeline unpickles); re-synced when the lock's
    content changes (as scripts/setup-mlserver; a checkout that only touches the file does
    not re-sync). `bash scripts/setup-bench --mlflow` runs this before a bench starts."""
    python = MLFLOW_VENV / "bin" / "python"
    lock = BENCH / "mlflow.lock"
    stamp = MLFLOW_VENV / f".installed-{hashlib.sha256(lock.read_bytes()).hexdigest()[:16]}"
    if not stamp.exists():
        print("Installing bench/mlflow.lock into bench/.mlflow-venv ...", flush=True)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "lockfile.py"), "install", "mlflow",
                        "--python", str(python)], check=True)
        for old in MLFLOW_VENV.glob(".installed*"):
            old.unlink()
        stamp.touch()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "lockfile.py"), "check", "mlflow",
                    "--python", str(python)], check=True)
    return python


def mlflow_serve(workers: int) -> tuple[Server, list[str]]:
    from ml.builtin.leads import LEAD_COLUMNS

    python = mlflow_ensure()
    pipeline = lead_predictor().model.pipeline
    source, target = WORK / "lead-pipeline.pkl", WORK / "mlflow-model"
    source.write_bytes(pickle.dumps(pipeline))
    shutil.rmtree(target, ignore_errors=True)
    columns = [c.replace("=", "_") for c in LEAD_COLUMNS]
    subprocess.run([str(python), str(BENCH / "mlflow_export.py"), str(source), str(target), ",".join(columns)],
                   check=True, capture_output=True)
    port = free_port()
    env = dict(os.environ) | {"PATH": f"{MLFLOW_VENV / 'bin'}:{os.environ['PATH']}"}
    argv = [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(target), "-h", "127.0.0.1",
            "-p", str(port), "-w", str(workers), "--env-manager", "local"]
    return start_server("mlflow", argv, env, port, workers), columns


def mlflow_body(columns: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The MLflow request for `rows`: our own encoding (so MLflow gets the easier job)."""
    from ml.builtin.leads import encode_leads
    from ml.schema import parse_schema, validate_features
    from registry.models import MLModel

    specs = parse_schema(MLModel.objects.get(pk=MODEL_ID).feature_schema)
    matrix = encode_leads([validate_features(specs, row) for row in rows])
    return {"dataframe_split": {"columns": columns, "data": matrix.tolist()}}


# --- explanations: shap's Exact explainer on the same model -----------------------------

def shap_exact_baseline(features: dict[str, Any], repeats: int) -> tuple[float, dict[str, float]]:
    """Median ms of shap.explainers.Exact explaining our lead score for one row, with each
    input feature one player (industry's one-hot columns move together) over the model's own
    background sample, and the values it finds."""
    import numpy as np
    import shap

    from ml.schema import parse_schema, validate_features
    from registry.models import MLModel

    predictor = lead_predictor()
    space = predictor.space()
    names = space.feature_names
    groups = [space.columns[name] for name in names]
    width = space.background.shape[1]

    def compact(matrix: np.ndarray) -> np.ndarray:  # one column per feature
        out = np.empty((len(matrix), len(groups)))
        for j, cols in enumerate(groups):
            out[:, j] = matrix[:, cols[0]] if len(cols) == 1 else np.argmax(matrix[:, cols], axis=1)
        return out

    def expand(rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), width))
        for j, cols in enumerate(groups):
            if len(cols) == 1:
                out[:, cols[0]] = rows[:, j]
            else:
                out[np.arange(len(rows)), np.asarray(cols)[rows[:, j].astype(int)]] = 1.0
        return out

    def model_output(rows: np.ndarray) -> np.ndarray:
        # scikit-learn's own pipeline, as a shap user would call it
        return 100.0 * predictor.model.pipeline.predict_proba(expand(rows))[:, 1]

    specs = parse_schema(MLModel.objects.get(pk=MODEL_ID).feature_schema)
    row = compact(predictor.encode([validate_features(specs, features)]))
    background = compact(space.background)
    explainer = shap.explainers.Exact(model_output, shap.maskers.Independent(background, max_samples=len(background)))
    explainer(row)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = explainer(row)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), dict(zip(names, result.values[0].tolist(), strict=True))


def engine_in_process(features: dict[str, Any], repeats: int) -> float | None:
    """Median ms of our own explainer computing one lead explanation in process (no HTTP,
    no cache): the like-for-like figure beside shap's in-process one."""
    try:
        from explanations.explainers import explainer_for
    except ImportError:
        return None
    from predictions.features import validate
    from registry.models import MLModel

    model = MLModel.objects.get(pk=MODEL_ID)
    explainer = explainer_for(model)
    cleaned = validate(model, features)
    explainer.explain(cleaned)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        explainer.explain(cleaned)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# --- the run ----------------------------------------------------------------------------

@dataclass
class Results:
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, what: str, ours: str, baseline: str, ratio: str, target: str) -> None:
        self.rows.append((what, ours, baseline, ratio, target))
        print(f"  {what}: {ours} | baseline {baseline} | {ratio} | target {target}", flush=True)


def check(load: Load, what: str, results: Results) -> None:
    if not load.requests:
        results.failures.append(f"{what}: no request was answered")
    if load.failed:
        results.failures.append(f"{what}: {load.failed} failed requests {load.errors}")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run; no MLflow, no shap")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for every server")
    parser.add_argument("--seconds", type=float, default=None, help="length of each load run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=None,
                        help="alternating floor / cached / uncached rounds (default 3; 1 with --quick)")
    parser.add_argument("--output", type=Path, default=None, help="where to write the results (markdown)")
    args = parser.parse_args()
    seconds = args.seconds or (2 if args.quick else 6)
    rounds = args.rounds or (1 if args.quick else 3)
    connections = 4 if args.quick else args.connections
    output = args.output or (WORK / "RESULTS-quick.md" if args.quick else BENCH / "RESULTS.md")
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `bash scripts/setup-bench` (apt-get install -y wrk).", file=sys.stderr)
        return 2
    WORK.mkdir(exist_ok=True)
    env = service_env(args.quick)
    setup_django(env)
    key = token()
    results = Results()
    started = dt.datetime.now(dt.UTC)
    single = {"modelId": MODEL_ID, "features": LEAD}
    distinct = json.dumps({"modelId": MODEL_ID, "features": {**LEAD, "budget": "__N__"}}).replace('"__N__"', "__N__")
    batch = batch_rows(1000)
    print(f"Benchmark on {platform.node()}, {os.cpu_count()} cores, load average {load_average()}", flush=True)

    # 1 + 2: the floor and the service are up together and measured in alternation, round
    # after round, so a machine whose speed drifts (other tenants, thermal) moves both; each
    # figure is the round with the median requests/s.
    floor = gunicorn("floor", "bench.floor_settings", env, args.workers)
    app = None
    try:
        app = gunicorn("service", "hotcrm_ai.settings", env, args.workers)
        url = f"{app.url}/api/v1/predictions/"
        status, answer, _ = post(url, single, key)
        if status != 200:
            raise RuntimeError(f"the service answered {status}: {answer}")
        wrk(f"{floor.url}/api/v1/predictions/", single, connections=connections, seconds=1)
        wrk(url, single, connections=connections, seconds=1, token=key)  # warm every worker's cache
        floor_runs, cached_runs, uncached_runs = [], [], []
        for _ in range(rounds):
            floor_runs.append(wrk(f"{floor.url}/api/v1/predictions/", single, connections=connections,
                                  seconds=seconds))
            cached_runs.append(wrk(url, single, connections=connections, seconds=seconds, token=key))
            uncached_runs.append(wrk(url, distinct, connections=connections, seconds=seconds, token=key,
                                     distinct=True, offset=time.time_ns() // 1000 % 10**9))
        floor_load, cached, uncached = (median_run(r) for r in (floor_runs, cached_runs, uncached_runs))
        for name, runs in (("floor", floor_runs), ("cached predictions", cached_runs),
                           ("uncached predictions", uncached_runs)):
            for run in runs:
                check(run, name, results)
        results.notes.append(
            f"Rounds ({rounds}, alternating floor / cached / uncached, {seconds:g} s each), req/s: floor "
            + ", ".join(f"{r.rps:,.0f}" for r in floor_runs) + "; cached "
            + ", ".join(f"{r.rps:,.0f}" for r in cached_runs) + "; uncached "
            + ", ".join(f"{r.rps:,.0f}" for r in uncached_runs) + ".")
    except BaseException:
        if app is not None:
            app.stop()
        raise
    finally:
        floor.stop()

    # 2 (check), 3, 4, 5: the service alone
    try:
        status, again, _ = post(url, single, key)
        if not again.get("cached"):
            results.failures.append("the repeated prediction was not answered from the cache")

        before = recorded_rows(MODEL_ID)
        batch_body = {"modelId": MODEL_ID, "features": batch, "useCache": False}
        status, ours_batch, _ = post(f"{url}batch/", batch_body, key)
        if status != 200:
            raise RuntimeError(f"the batch endpoint answered {status}: {str(ours_batch)[:500]}")
        # a quick run still waits for a few whole batches on a loaded machine
        batch_load = wrk(f"{url}batch/", batch_body, connections=min(4, connections),
                         seconds=max(seconds, 5) if args.quick else seconds, token=key)
        check(batch_load, "batches", results)
        time.sleep(2)  # let buffered metric writes land
        after = recorded_rows(MODEL_ID)
        # the warm-up request above plus every batch wrk saw answered (and any in flight at its end)
        wanted = (batch_load.requests + 1) * 1000
        logged, measured = after[0] - before[0], after[1] - before[1]
        # A batch is one metric record carrying its 1,000 rows; records are kept up to the
        # retention per model (oldest evicted first), far more than the batches of a run.
        batch_recorded = logged >= wanted and measured >= wanted
        if not batch_recorded:
            results.failures.append(f"batch rows recorded: {logged} logged, {measured} metrics, wanted >= {wanted}")

        explain_ms, explain_values = measure_explanations(app, key, 20 if args.quick else 200)
        stats_ms, stats_over = measure_stats(app, key, 5 if args.quick else 50, args.quick)
    finally:
        app.stop()

    # 2, 3 baseline: MLflow
    mlflow_single = mlflow_batch = None
    equal_answers = None
    if not args.quick:
        server, columns = mlflow_serve(args.workers)
        try:
            invocations = f"{server.url}/invocations"
            status, probability, _ = post(invocations, mlflow_body(columns, batch))
            if status != 200:
                raise RuntimeError(f"MLflow answered {status}: {str(probability)[:500]}")
            ours_scores = [r["prediction"]["score"] for r in ours_batch["results"]]
            theirs = [round(100 * p[1], 2) for p in probability["predictions"]]
            equal_answers = sum(a == b for a, b in zip(ours_scores, theirs, strict=True))
            one_row = mlflow_body(columns, [LEAD])
            one_row["dataframe_split"]["data"][0][3] = 13.25  # log budget, made distinct below
            one = json.dumps(one_row).replace("13.25", "13.__N__")
            wrk(invocations, one, connections=connections, seconds=1, distinct=True)
            mlflow_single = wrk(invocations, one, connections=connections, seconds=seconds, distinct=True)
            check(mlflow_single, "MLflow single", results)
            mlflow_batch = wrk(invocations, mlflow_body(columns, batch), connections=min(4, connections),
                               seconds=seconds)
            check(mlflow_batch, "MLflow batches", results)
        finally:
            server.stop()

    shap_ms = shap_values = engine_ms = None
    if not args.quick and explain_ms is not None:
        shap_ms, shap_values = shap_exact_baseline(LEAD, 30)
        engine_ms = engine_in_process(LEAD, 200)

    # the table
    floor_rps = floor_load.rps
    results.add("1. cached single predictions (16 conn)" if not args.quick else "1. cached single predictions",
                f"{cached.rps:,.0f} req/s, p50 {cached.p50_ms:.2f} ms, p99 {cached.p99_ms:.2f} ms",
                f"floor {floor_rps:,.0f} req/s, p50 {floor_load.p50_ms:.2f} ms, p99 {floor_load.p99_ms:.2f} ms",
                f"{ratio(cached.rps, floor_rps):.0%} of floor",
                f">= 60% of floor, p99 <= 10 ms: {verdict(cached.rps >= 0.6 * floor_rps and cached.p99_ms <= 10)}")
    mlflow_text = (f"MLflow {mlflow_single.rps:,.0f} req/s, p50 {mlflow_single.p50_ms:.2f} ms, "
                   f"p99 {mlflow_single.p99_ms:.2f} ms" if mlflow_single else "MLflow not run (--quick)")
    results.add("2. uncached single predictions",
                f"{uncached.rps:,.0f} req/s, p50 {uncached.p50_ms:.2f} ms, p99 {uncached.p99_ms:.2f} ms",
                f"{mlflow_text}; floor {floor_rps:,.0f} req/s",
                (f"{ratio(uncached.rps, mlflow_single.rps):.1f}x MLflow, " if mlflow_single else "")
                + f"{ratio(uncached.rps, floor_rps):.0%} of floor",
                ">= 5x MLflow: " + (verdict(uncached.rps >= 5 * mlflow_single.rps) if mlflow_single else "n/a"))
    ours_rows = batch_load.rps * 1000
    theirs_rows = mlflow_batch.rps * 1000 if mlflow_batch else None
    results.add("3. 1,000-row batches",
                f"{ours_rows:,.0f} rows/s ({batch_load.rps:.1f} batches/s), every row recorded: "
                f"{'yes' if batch_recorded else 'NO'}",
                f"MLflow {theirs_rows:,.0f} rows/s" if theirs_rows else "MLflow not run (--quick)",
                f"{ratio(ours_rows, theirs_rows):.1f}x MLflow" if theirs_rows else "",
                ">= 3x MLflow: " + (verdict(ours_rows >= 3 * theirs_rows and batch_recorded) if theirs_rows else "n/a"))
    if explain_ms is None:
        results.add("4. explanations", "no /api/v1/explanations/ endpoint in this build", "", "", "not measured")
    else:
        gap = (max(abs(explain_values[k] - shap_values[k]) for k in shap_values)
               if shap_values and explain_values else None)
        engine = f"; in process (no HTTP) {engine_ms:.3f} ms" if engine_ms else ""
        results.add("4. explanations", f"median {explain_ms:.2f} ms per explanation over HTTP{engine}",
                    f"shap Exact (in process) median {shap_ms:.3f} ms" if shap_ms else "shap not run (--quick)",
                    (f"{ratio(shap_ms, explain_ms):.2f}x over HTTP, {ratio(shap_ms, engine_ms or 0):.2f}x in process; "
                     f"largest difference from shap {gap:.2g}" if shap_ms and gap is not None else ""),
                    ">= 10x shap: " + (verdict(shap_ms >= 10 * (engine_ms or explain_ms) and gap is not None
                                               and gap < 1e-6) if shap_ms else "n/a"))
    if stats_ms is None:
        results.add("5. stats", "no /api/v1/models/{id}/stats/ endpoint in this build", "", "", "not measured")
    else:
        results.add(f"5. stats over {stats_over:,} metrics", f"median {stats_ms:.2f} ms (over HTTP)", "", "", "")
    # Little's law: with `connections` requests always in flight, the mean time a request
    # spends in the system is connections / throughput, whatever the server does.
    results.notes.append(
        f"Latency at {connections} connections is bounded below by Little's law: mean = connections / throughput, "
        f"so cached predictions at {cached.rps:,.0f} req/s spend {1000 * connections / cached.rps:.1f} ms on average "
        f"in the system, and a p99 <= 10 ms needs >= {connections / 0.010:,.0f} req/s with almost no spread; the floor "
        f"itself ({floor_rps:,.0f} req/s) had p99 {floor_load.p99_ms:.2f} ms in this run."
    )
    if equal_answers is not None:
        results.notes.append(f"Equal answers: {equal_answers} of {len(batch)} batch rows score exactly as "
                             "MLflow's predict_proba x 100 rounded to 2 places.")
    write_results(output, results, started, args, env, seconds, connections,
                  [floor_load, cached, uncached, batch_load, mlflow_single, mlflow_batch])
    for failure in results.failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if results.failures else 0


def measure_explanations(app: Server, key: str, repeats: int) -> tuple[float | None, dict[str, float] | None]:
    url = f"{app.url}/api/v1/explanations/"
    body = {"modelId": MODEL_ID, "features": LEAD, "useCache": False}  # computed every time
    status, answer, _ = post(url, body, key)
    if status in (404, 405):
        return None, None
    if status != 200:
        raise RuntimeError(f"explanations answered {status}: {str(answer)[:500]}")
    times = [post(url, body, key)[2] for _ in range(repeats)]
    values = {c["feature"]: c["shapValue"] for c in answer.get("featureContributions", [])}
    return statistics.median(times), values


def measure_stats(app: Server, key: str, repeats: int, quick: bool) -> tuple[float | None, int]:
    """Median time of the model's stats once its metrics count at least 10,000 predictions,
    topped up with real batch predictions where the load runs left fewer (a batch's metric
    is one record of 1,000 rows)."""
    url = f"{app.url}/api/v1/models/{MODEL_ID}/stats/"
    status, _, _ = get(url, key)
    if status == 404:
        return None, 0
    wanted = 1_000 if quick else 10_000
    seed = 100
    while recorded_rows(MODEL_ID)[1] < wanted:
        seed += 1
        post(f"{app.url}/api/v1/predictions/batch/", {"modelId": MODEL_ID, "features": batch_rows(1000, seed),
                                                      "useCache": False}, key)
        time.sleep(0.2)
    status, body, _ = get(url, key)
    if status != 200:
        raise RuntimeError(f"stats answered {status}: {str(body)[:500]}")
    times = [get(url, key)[2] for _ in range(repeats)]
    return statistics.median(times), int(body.get("totalPredictions", 0))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, {platform.platform()}, Python {platform.python_version()}"


def write_results(output: Path, results: Results, started: dt.datetime, args: argparse.Namespace,
                  env: dict[str, str], seconds: float, connections: int, loads: list[Load | None]) -> None:
    backend = ("PostgreSQL" if env.get("DATABASE_URL") else "SQLite") + " + " + (
        "Redis" if env.get("REDIS_URL") else "in-process cache")
    lines = [
        SECTION + (" (quick smoke run)" if args.quick else ""),
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Service: {backend}; gunicorn {args.workers} sync workers for the service and the floor, "
        f"MLflow `models serve -w {args.workers}`",
        f"- Load: wrk from a separate process, {connections} connections for single requests, "
        f"{min(4, connections)} for batches, {seconds:g} s per run, a new connection per request",
        "- Load average (1/5/15 min) before -> after each run: "
        + "; ".join(f"{x.load_before} -> {x.load_after}" for x in loads if x),
        "",
        "| measure | ours | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in results.rows),
        "",
        *(f"- {note}" for note in results.notes),
        *(f"- FAILED: {failure}" for failure in results.failures),
        "",
        "Command: `.venv/bin/python bench/run.py" + (" --quick" if args.quick else "") + "` (or `make bench`).",
        "",
    ]
    section_write(output, SECTION, "\n".join(lines))
    print(f"\nWrote the section {SECTION!r} of {output}")


if __name__ == "__main__":
    sys.exit(main())
