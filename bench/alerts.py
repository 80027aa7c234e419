"""Alert evaluator benchmark: the cost of one evaluation cycle over 200 models.

Run: `.venv/bin/python bench/alerts.py [--models 200] [--per-model 300] [--cycles 7]`.
A scratch SQLite file unless DATABASE_URL is set (then its rows are removed again).

200 registered `custom` models, each with `--per-model` predictions in the last five minutes
(one in ten models failing 20 % of them, one in ten slow), and six rules over every model:
health unhealthy (the ALERT_WEBHOOK_URL default), health degraded, errorRate, p95Latency,
noTraffic and circuitOpen: 1,200 checks per cycle. Printed: the first cycle (it opens the
incidents), then the median of the steady cycles that follow, with their queries; and, as a
baseline in the same run, judging the same models one by one through monitoring's
model_health() (what GET /models/{id}/health/ does).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DATABASE_URL"):
    os.environ["HOTCRM_VAR_DIR"] = tempfile.mkdtemp(prefix="hotcrm-bench-alerts-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotcrm_ai.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from alerts.models import Incident, Rule  # noqa: E402
from alerts.services import alerts_evaluate, rule_create  # noqa: E402
from monitoring.health import model_health  # noqa: E402
from monitoring.models import Metric  # noqa: E402
from registry.models import MLModel  # noqa: E402

PREFIX = "bench-alert-"


def populate(models: int, per_model: int) -> None:
    rng = random.Random(18)
    MLModel.objects.bulk_create([
        MLModel(id=f"{PREFIX}{i:03d}", name=f"Bench {i}", version="1", type="regression", provider="custom",
                provider_config={"endpoint": "http://127.0.0.1:9/predict", "config": {"timeout": 1}})
        for i in range(models)
    ])
    now = timezone.now()
    rows = []
    for i in range(models):
        failing, slow = i % 10 == 3, i % 10 == 7
        for _ in range(per_model):
            ok = not (failing and rng.random() < 0.2)
            rows.append(Metric(model_id=f"{PREFIX}{i:03d}", model_version="1",
                               timestamp=now - timedelta(seconds=rng.uniform(0, 280)),
                               latency_ms=rng.lognormvariate(6.5 if slow else 3.0, 0.4), confidence=80.0 if ok else None,
                               cached=False, success=ok, provider="custom"))
    Metric.objects.bulk_create(rows, batch_size=5000)
    for name, fields in (
        ("bench unhealthy", {"condition": "health", "level": "unhealthy"}),
        ("bench degraded", {"condition": "health", "level": "degraded"}),
        ("bench errors", {"condition": "errorRate", "threshold": 5, "for_seconds": 300}),
        ("bench slow", {"condition": "p95Latency", "threshold": 500, "for_seconds": 300}),
        ("bench quiet", {"condition": "noTraffic", "for_seconds": 600}),
        ("bench circuit", {"condition": "circuitOpen"}),
    ):
        rule_create(data={"name": name, **fields})


def cycle() -> tuple[float, int, dict, float]:
    """Wall time (ms), queries, what changed, and this process's CPU time (ms): on a busy
    machine the wall time includes waiting for a core."""
    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.process_time()
        counts = alerts_evaluate()
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(queries), counts, (time.process_time() - cpu) * 1000


def baseline(models: list[MLModel]) -> tuple[float, int]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        for model in models:
            model_health(model)
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--per-model", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=7)
    args = parser.parse_args()
    call_command("migrate", interactive=False, verbosity=0)
    others: list[str] = []
    try:
        # Only the bench's own models are active: whatever else the database holds is not judged.
        others += list(MLModel.objects.exclude(id__startswith=PREFIX).filter(status="active").values_list("id", flat=True))
        MLModel.objects.filter(id__in=others).update(status="inactive")
        populate(args.models, args.per_model)
        first_ms, first_queries, counts, _ = cycle()
        steady = [cycle() for _ in range(args.cycles)]
        base_ms, base_queries = baseline(list(MLModel.objects.filter(id__startswith=PREFIX)))
        median_ms = statistics.median(s[0] for s in steady)
        print(f"models {args.models}, predictions in the window {args.models * args.per_model:,}, "
              f"checks per cycle {counts['checks']}, incidents fired {counts['fired']}")
        print(f"first cycle (opens the incidents):  {first_ms:8.1f} ms, {first_queries} queries")
        print(f"steady cycle, median of {args.cycles}:      {median_ms:8.1f} ms, {steady[0][1]} queries "
              f"(min {min(s[0] for s in steady):.1f}, max {max(s[0] for s in steady):.1f}; "
              f"CPU {statistics.median(s[3] for s in steady):.1f} ms in this process)")
        print(f"baseline: model_health() per model: {base_ms:8.1f} ms, {base_queries} queries "
              f"(health only: 1 of the 6 rules)")
        print(f"per model per cycle: {median_ms / args.models:.2f} ms; load at ALERT_INTERVAL=30 s: "
              f"{100 * median_ms / 30_000:.2f} % of one core")
    finally:
        Incident.objects.filter(model_id__startswith=PREFIX).delete()
        Rule.objects.filter(name__startswith="bench ").delete()
        Metric.objects.filter(model_id__startswith=PREFIX).delete()
        MLModel.objects.filter(id__startswith=PREFIX).delete()
        MLModel.objects.filter(id__in=others).update(status="active")


if __name__ == "__main__":
    main()
