"""Reading metrics back: performance stats, time series for the dashboard, recent errors.

Every read first stores this process's buffered metrics, so what a process recorded is
always in what it reports; other processes' buffers reach the database within
`METRICS_FLUSH_INTERVAL` seconds. Percentiles are numpy's linear interpolation between
the closest ranks (numpy.percentile, method="linear").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db.models import QuerySet
from django.utils import timezone

from core.write_behind import flush_all
from monitoring.models import Metric
from predictions.models import PredictionLog
from predictions.selectors import live_accuracies, live_accuracy, outcome_summary
from registry.models import MLModel

PREDICTION = "prediction"


@dataclass
class Sample:
    """A model's prediction metrics in a window, as numpy columns."""

    latency: np.ndarray
    confidence: np.ndarray  # NaN where there is none (failures)
    cached: np.ndarray
    success: np.ndarray
    epoch: np.ndarray | None = None  # seconds since 1970, when asked for
    weight: np.ndarray | None = None  # predictions per record (bulk job chunks: many)

    @classmethod
    def of(cls, rows: list[tuple], with_time: bool = False) -> Sample:
        if not rows:
            empty = np.empty(0)
            return cls(empty, empty, empty.astype(bool), empty.astype(bool), empty if with_time else None, empty)
        columns = list(zip(*rows, strict=True))
        return cls(
            latency=np.asarray(columns[0], dtype=float),
            confidence=np.asarray([np.nan if c is None else c for c in columns[1]], dtype=float),
            cached=np.asarray(columns[2], dtype=bool),
            success=np.asarray(columns[3], dtype=bool),
            epoch=np.asarray([t.timestamp() for t in columns[5]]) if with_time else None,
            weight=np.asarray(columns[4], dtype=float),
        )

    def subset(self, mask: np.ndarray) -> Sample:
        return Sample(self.latency[mask], self.confidence[mask], self.cached[mask], self.success[mask],
                      None if self.epoch is None else self.epoch[mask],
                      None if self.weight is None else self.weight[mask])

    @property
    def weights(self) -> np.ndarray:
        return np.ones(len(self.latency)) if self.weight is None else self.weight

    def count(self, mask: np.ndarray | None = None) -> int:
        return int(self.weights.sum() if mask is None else self.weights[mask].sum())

    def percentiles(self, qs: list[float]) -> list[float]:
        """numpy's linear percentiles of the latencies, each record counted `weight` times."""
        w = self.weights
        if (w == 1).all():
            return list(np.percentile(self.latency, qs, method="linear"))
        order = np.argsort(self.latency, kind="stable")
        values, cumulative = self.latency[order], np.cumsum(w[order])
        out = []
        for q in qs:
            rank = q / 100 * (cumulative[-1] - 1)  # 0-based rank among all predictions
            low, high = int(np.floor(rank)), int(np.ceil(rank))
            lo_value = values[np.searchsorted(cumulative, low + 1)]
            hi_value = values[np.searchsorted(cumulative, high + 1)]
            out.append(lo_value + (hi_value - lo_value) * (rank - low))
        return out


def window_start(window: int | None, now: datetime | None = None) -> datetime | None:
    return None if not window else (now or timezone.now()) - timedelta(seconds=window)


def metrics_in_window(model_id: str, since: datetime | None, arm: str | list[str] | None = None) -> QuerySet[Metric]:
    qs = Metric.objects.filter(model_id=model_id, kind=PREDICTION)
    if since is not None:
        qs = qs.filter(timestamp__gte=since)
    if arm is not None:
        qs = qs.filter(ab_arm__in=_arms(arm))
    return qs


def metrics_sample(model_id: str, since: datetime | None, *, arm: str | list[str] | None = None,
                   with_time: bool = False) -> Sample:
    fields = ["latency_ms", "confidence", "cached", "success", "rows"] + (["timestamp"] if with_time else [])
    rows = list(metrics_in_window(model_id, since, arm).values_list(*fields))
    return Sample.of(rows, with_time)


def summarise(sample: Sample) -> dict[str, Any]:
    """PerformanceStats figures of a sample (latencies in ms, rates in %)."""
    total = sample.count()
    failed = sample.count(~sample.success)
    w = sample.weights
    has_confidence = ~np.isnan(sample.confidence)
    if total:
        p50, p95, p99 = sample.percentiles([50, 95, 99])
    return {
        "totalPredictions": total,
        "successfulPredictions": total - failed,
        "failedPredictions": failed,
        "averageLatency": _r(np.average(sample.latency, weights=w)) if total else None,
        "medianLatency": _r(p50) if total else None,
        "p95Latency": _r(p95) if total else None,
        "p99Latency": _r(p99) if total else None,
        "averageConfidence": _r(np.average(sample.confidence[has_confidence], weights=w[has_confidence]))
        if has_confidence.any() else None,
        "cacheHitRate": _r(100 * sample.count(sample.cached) / total) if total else 0.0,
        "errorRate": _r(100 * failed / total) if total else 0.0,
    }


def model_stats(model_id: str, *, window: int | None = None, arm: str | list[str] | None = None) -> dict[str, Any]:
    """PerformanceStats of one model over the last `window` seconds (all retained if None)."""
    flush_all()
    since = window_start(window)
    stats = summarise(metrics_sample(model_id, since, arm=arm))
    last = metrics_in_window(model_id, since, arm).order_by("-timestamp").values_list("timestamp", flat=True)[:1]
    newest = next(iter(last), None)
    return {
        "modelId": model_id,
        **stats,
        "accuracy": feedback_accuracy(model_id, since, arm=arm),
        "lastUpdated": newest.isoformat() if newest else None,
    }


def feedback_accuracy(model_id: str, since: datetime | None, *, arm: str | list[str] | None = None) -> float | None:
    """% of predictions with an outcome that were right (predictions' outcome rules)."""
    if arm is None:
        return live_accuracy(model_id, since)["accuracy"]
    logs = PredictionLog.objects.filter(model_id=model_id, ab_arm__in=_arms(arm))
    if since is not None:
        logs = logs.filter(created_at__gte=since)
    model_type = MLModel.objects.filter(pk=model_id).values_list("type", flat=True).first() or ""
    return outcome_summary(logs, model_type)["accuracy"]


def _arms(arm: str | list[str]) -> list[str]:
    return [arm] if isinstance(arm, str) else list(arm)


def recent_errors(model_id: str, limit: int = 50) -> list[dict[str, Any]]:
    flush_all()
    rows = (
        Metric.objects.filter(model_id=model_id, success=False)
        .order_by("-timestamp")
        .values("timestamp", "error_code", "error", "latency_ms", "provider", "ab_arm", "model_version")[:limit]
    )
    return [
        {"timestamp": r["timestamp"].isoformat(), "code": r["error_code"], "message": r["error"],
         "latency": _r(r["latency_ms"]), "provider": r["provider"], "arm": r["ab_arm"] or None,
         "version": r["model_version"]}
        for r in rows
    ]


def model_series(model_id: str, *, window: int, buckets: int) -> dict[str, Any]:
    """Per-bucket predictions/minute, p50/p95/p99 latency, error and cache-hit rates."""
    flush_all()
    now = timezone.now()
    return series_of(metrics_sample(model_id, window_start(window, now), with_time=True),
                     window=window, buckets=buckets, now=now)


def series_of(sample: Sample, *, window: int, buckets: int, now: datetime) -> dict[str, Any]:
    """`model_series` of a sample (with times) read already."""
    bucket = window / buckets
    start = now.timestamp() - window
    assert sample.epoch is not None  # asked for with_time
    sample = sample.subset(sample.epoch >= start)
    assert sample.epoch is not None
    index = np.clip(((sample.epoch - start) // bucket).astype(int), 0, buckets - 1)
    series: dict[str, list] = {k: [] for k in ("perMinute", "p50", "p95", "p99", "errorRate", "cacheHitRate")}
    for b in range(buckets):
        part = sample.subset(index == b)
        n = part.count()
        series["perMinute"].append(_r(n * 60 / bucket))
        if n:
            p50, p95, p99 = part.percentiles([50, 95, 99])
        series["p50"].append(_r(p50) if n else None)
        series["p95"].append(_r(p95) if n else None)
        series["p99"].append(_r(p99) if n else None)
        series["errorRate"].append(_r(100 * part.count(~part.success) / n) if n else None)
        series["cacheHitRate"].append(_r(100 * part.count(part.cached) / n) if n else None)
    return {
        "bucketSeconds": bucket,
        "times": [datetime.fromtimestamp(start + (b + 1) * bucket, tz=now.tzinfo).isoformat() for b in range(buckets)],
        **series,
    }


@dataclass
class DashboardMetrics:
    """Every model's prediction metrics since the earliest moment a dashboard refresh looks
    at, read in one query, with each model's live accuracy since its window (another)."""

    now: datetime
    samples: dict[str, Sample]  # with times
    newest: dict[str, datetime]  # newest metric per model
    accuracy: dict[str, float | None]

    def stats(self, model_id: str, window: int) -> dict[str, Any]:
        """What `model_stats(model_id, window=window)` gives (the accuracy: only for the
        window the metrics were read for)."""
        sample = self.samples.get(model_id) or Sample.of([], with_time=True)
        assert sample.epoch is not None
        since = (self.now - timedelta(seconds=window)).timestamp()
        recent = sample.subset(sample.epoch >= since)
        newest = self.newest.get(model_id)
        return {
            "modelId": model_id,
            **summarise(recent),
            "accuracy": self.accuracy.get(model_id),
            "lastUpdated": newest.isoformat() if newest and newest.timestamp() >= since else None,
        }

    def series(self, model_id: str, window: int, buckets: int) -> dict[str, Any]:
        sample = self.samples.get(model_id) or Sample.of([], with_time=True)
        return series_of(sample, window=window, buckets=buckets, now=self.now)


def metrics_for_dashboard(models: list[MLModel], *, window: int, longest: int) -> DashboardMetrics:
    """One read of the metrics of all `models` over the last `longest` seconds (the
    dashboard's window or a longer health window), and their accuracy over `window`."""
    flush_all()
    now = timezone.now()
    rows: dict[str, list[tuple]] = {m.pk: [] for m in models}
    newest: dict[str, datetime] = {}
    metrics = Metric.objects.filter(
        model_id__in=list(rows), kind=PREDICTION, timestamp__gte=now - timedelta(seconds=max(window, longest)),
    ).values_list("model_id", "latency_ms", "confidence", "cached", "success", "rows", "timestamp")
    for model_id, latency, confidence, cached, success, count, timestamp in metrics:
        rows[model_id].append((latency, confidence, cached, success, count, timestamp))
        if model_id not in newest or timestamp > newest[model_id]:
            newest[model_id] = timestamp
    return DashboardMetrics(
        now=now, samples={pk: Sample.of(r, with_time=True) for pk, r in rows.items()}, newest=newest,
        accuracy=live_accuracies(models, now - timedelta(seconds=window)),
    )


def _r(value: Any) -> float:
    return round(float(value), 3)
