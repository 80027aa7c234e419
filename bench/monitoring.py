"""Monitoring benchmark: the cost of recording a metric per prediction, and the time to
compute stats over 10,000 metrics. Run: `make bench-monitoring` (or .venv/bin/python
bench/monitoring.py). Uses a scratch SQLite file unless DATABASE_URL is set (then its rows
are removed again). Baselines are measured in the same run:

- recording: the buffered recorder against one INSERT per metric (what a naive recorder,
  and this project before buffering, pays on the request path);
- stats: the full PerformanceStats (numpy percentiles) against a bare SQL COUNT/AVG;
- dashboard: database queries and time of one refresh of /dashboard/data/ (every built-in
  model's card, 2,000 metrics each over the last hour) and of one model page's data, computed
  and served from the dashboard cache (DASHBOARD_CACHE_SECONDS).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DATABASE_URL"):
    os.environ["HOTCRM_VAR_DIR"] = tempfile.mkdtemp(prefix="hotcrm-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hotcrm_ai.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Avg, Count  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.metrics import MetricRecord, metrics_record  # noqa: E402
from monitoring.dashboard import model_page, overview  # noqa: E402
from monitoring.models import Metric  # noqa: E402
from monitoring.selectors import model_series, model_stats  # noqa: E402
from monitoring.services import metric_buffer  # noqa: E402
from registry.models import MLModel  # noqa: E402

RECORDS = 5_000
STATS_ROWS = 10_000
REPEAT = 15
MODELS = ("bench-orm", "bench-sync", "bench-buffered", "bench-stats")
DASHBOARD_METRICS = 2_000
DASHBOARD_WINDOW = 3_600


def record(model_id: str) -> MetricRecord:
    return MetricRecord(model_id=model_id, model_version="1", timestamp=timezone.now(), latency_ms=3.2,
                        confidence=88.0, cached=False, success=True, provider="local", ab_arm="")


def orm_insert_us(model_id: str) -> float:
    """The spine's recorder: an ORM INSERT per prediction, on the request path."""
    from monitoring import prometheus

    started = time.perf_counter()
    for _ in range(RECORDS):
        r = record(model_id)
        prometheus.observe([r])
        Metric.objects.bulk_create([Metric(**vars(r))])
    return (time.perf_counter() - started) / RECORDS * 1e6


def per_metric_us(model_id: str, synchronous: bool) -> float:
    buffer = metric_buffer()
    buffer.synchronous = synchronous
    started = time.perf_counter()
    for _ in range(RECORDS):
        metrics_record([record(model_id)])
    buffer.flush()  # the buffered run pays for its last INSERT too
    elapsed = time.perf_counter() - started
    assert Metric.objects.filter(model_id=model_id).count() == RECORDS
    return elapsed / RECORDS * 1e6


def timed_ms(fn) -> float:
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> None:
    call_command("migrate", verbosity=0)
    Metric.objects.filter(model_id__in=MODELS).delete()
    # Retention off for the runs: this measures recording, not trimming.
    settings.HOTCRM = settings.HOTCRM | {"METRICS_RETENTION": 10**9}
    print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
          f"buffer {settings.HOTCRM['METRICS_BUFFER_SIZE']} records / {settings.HOTCRM['METRICS_FLUSH_INTERVAL']} s")

    orm = orm_insert_us("bench-orm")
    sync = per_metric_us("bench-sync", synchronous=True)
    buffered = per_metric_us("bench-buffered", synchronous=False)
    print(f"recording one metric per prediction ({RECORDS} predictions)")
    print(f"  baseline, ORM INSERT per metric : {orm:8.1f} us/prediction")
    print(f"  raw INSERT per metric (unbuffered): {sync:6.1f} us/prediction   ({orm / sync:.1f}x cheaper)")
    print(f"  buffered, one INSERT per batch  : {buffered:8.1f} us/prediction   ({orm / buffered:.1f}x cheaper)")

    now = timezone.now()
    rng = np.random.default_rng(1)
    latencies = rng.lognormal(1.5, 0.8, STATS_ROWS)
    Metric.objects.bulk_create([
        Metric(model_id="bench-stats", model_version="1", timestamp=now - timedelta(seconds=float(s)),
               latency_ms=float(v), confidence=float(c), cached=bool(h), success=bool(ok), provider="local")
        for s, v, c, h, ok in zip(rng.uniform(0, 3500, STATS_ROWS), latencies, rng.uniform(50, 100, STATS_ROWS),
                                  rng.random(STATS_ROWS) < 0.3, rng.random(STATS_ROWS) > 0.02, strict=True)
    ], batch_size=1000)
    stats = model_stats("bench-stats")
    assert stats["totalPredictions"] == STATS_ROWS
    assert abs(stats["p95Latency"] - np.percentile(latencies, 95)) < 1e-2

    bare = timed_ms(lambda: Metric.objects.filter(model_id="bench-stats").aggregate(Count("id"), Avg("latency_ms")))
    full = timed_ms(lambda: model_stats("bench-stats"))
    windowed = timed_ms(lambda: model_stats("bench-stats", window=3600))
    series = timed_ms(lambda: model_series("bench-stats", window=3600, buckets=60))
    print(f"stats over {STATS_ROWS} metrics of one model (median of {REPEAT})")
    print(f"  baseline, SQL COUNT + AVG only  : {bare:8.2f} ms")
    print(f"  PerformanceStats, all retained  : {full:8.2f} ms   ({full / bare:.1f}x the bare aggregate)")
    print(f"  PerformanceStats, window=3600   : {windowed:8.2f} ms")
    print(f"  dashboard series, 60 buckets    : {series:8.2f} ms")
    Metric.objects.filter(model_id__in=MODELS).delete()
    dashboard()


def dashboard() -> None:
    call_command("train_builtin_models", "--if-missing", verbosity=0)
    ids = list(MLModel.objects.values_list("id", flat=True))
    now, rng = timezone.now(), np.random.default_rng(2)
    Metric.objects.bulk_create([
        Metric(model_id=model_id, model_version="1", timestamp=now - timedelta(seconds=float(s)),
               latency_ms=float(v), confidence=80.0, cached=bool(h), success=bool(ok), provider="bench")
        for model_id in ids
        for s, v, h, ok in zip(rng.uniform(0, DASHBOARD_WINDOW, DASHBOARD_METRICS),
                               rng.lognormal(1.5, 0.8, DASHBOARD_METRICS), rng.random(DASHBOARD_METRICS) < 0.3,
                               rng.random(DASHBOARD_METRICS) > 0.02, strict=True)
    ], batch_size=1000)
    first = MLModel.objects.get(pk=ids[0])
    print(f"dashboard: {len(ids)} models, {DASHBOARD_METRICS} metrics each, window {DASHBOARD_WINDOW} s "
          f"(median of {REPEAT})")
    cache_seconds = settings.HOTCRM["DASHBOARD_CACHE_SECONDS"]
    for name, fn in [("/dashboard/data/ refresh", lambda: overview(DASHBOARD_WINDOW)),
                     ("one model page's data", lambda: model_page(first, DASHBOARD_WINDOW))]:
        for label, seconds in (("computed", 0), (f"cached ({cache_seconds} s)", cache_seconds)):
            settings.HOTCRM = settings.HOTCRM | {"DASHBOARD_CACHE_SECONDS": seconds}
            fn()  # a cached run measures the hits of the viewers after the first
            with CaptureQueriesContext(connection) as queries:
                fn()
            print(f"  {name:24} {label:14}: {len(queries.captured_queries):4d} queries, {timed_ms(fn):8.1f} ms")
    Metric.objects.filter(model_id__in=ids, provider="bench").delete()


if __name__ == "__main__":
    main()
