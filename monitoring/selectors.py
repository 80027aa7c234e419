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
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from core.write_behind import flush_all
from monitoring.models import PREDICTION, SHADOW, Metric
from predictions.models import PredictionLog
from predictions.selectors import live_accuracies, live_accuracy, outcome_summary
from registry.models import MLModel


@dataclass
class Sample:
    """A model's prediction metrics in a window, as numpy columns (one entry per record)."""

    latency: np.ndarray
    confidence: np.ndarray  # NaN where there is none (failures)
    cached: np.ndarray
    success: np.ndarray
    epoch: np.ndarray | None = None  # seconds since 1970, when asked for
    weight: np.ndarray | None = None  # predictions per record (a request's rows, a job chunk's)
    timed: np.ndarray | None = None  # carries its request's latency (Metric.timed)

    @classmethod
    def of(cls, rows: list[tuple], with_time: bool = False) -> Sample:
        """From `(latency, confidence, cached, success, rows, timed[, timestamp])` tuples."""
        if not rows:
            empty = np.empty(0)
            return cls(empty, empty, empty.astype(bool), empty.astype(bool), empty if with_time else None, empty,
                       empty.astype(bool))
        columns = list(zip(*rows, strict=True))
        return cls(
            latency=np.asarray(columns[0], dtype=float),
            confidence=np.asarray([np.nan if c is None else c for c in columns[1]], dtype=float),
            cached=np.asarray(columns[2], dtype=bool),
            success=np.asarray(columns[3], dtype=bool),
            epoch=np.asarray([t.timestamp() for t in columns[6]]) if with_time else None,
            weight=np.asarray(columns[4], dtype=float),
            timed=np.asarray(columns[5], dtype=bool),
        )

    def subset(self, mask: np.ndarray) -> Sample:
        return Sample(self.latency[mask], self.confidence[mask], self.cached[mask], self.success[mask],
                      None if self.epoch is None else self.epoch[mask],
                      None if self.weight is None else self.weight[mask],
                      None if self.timed is None else self.timed[mask])

    @property
    def weights(self) -> np.ndarray:
        return np.ones(len(self.latency)) if self.weight is None else self.weight

    def count(self, mask: np.ndarray | None = None) -> int:
        """Predictions (rows) in the sample, or in its records `mask` selects."""
        return int(self.weights.sum() if mask is None else self.weights[mask].sum())

    @property
    def request_latencies(self) -> np.ndarray:
        """One latency per request (and model and arm): what latency figures are made of."""
        return self.latency if self.timed is None else self.latency[self.timed]

    def percentiles(self, qs: list[float]) -> list[float] | None:
        """numpy's linear percentiles of the request latencies (None without any)."""
        latencies = self.request_latencies
        return list(np.percentile(latencies, qs, method="linear")) if latencies.size else None


def window_start(window: int | None, now: datetime | None = None) -> datetime | None:
    return None if not window else (now or timezone.now()) - timedelta(seconds=window)


def metrics_in_window(model_id: str, since: datetime | None, arm: str | list[str] | None = None) -> QuerySet[Metric]:
    """A model's prediction metrics: served ones (no shadow runs) unless `arm` names arms."""
    qs = Metric.objects.served() if arm is None else Metric.objects.filter(kind=PREDICTION, ab_arm__in=_arms(arm))
    qs = qs.filter(model_id=model_id)
    if since is not None:
        qs = qs.filter(timestamp__gte=since)
    return qs


SAMPLE_FIELDS = ["latency_ms", "confidence", "cached", "success", "rows", "timed"]


def metrics_sample(model_id: str, since: datetime | None, *, arm: str | list[str] | None = None,
                   with_time: bool = False) -> Sample:
    fields = SAMPLE_FIELDS + (["timestamp"] if with_time else [])
    rows = list(metrics_in_window(model_id, since, arm).values_list(*fields))
    return Sample.of(rows, with_time)


def summarise(sample: Sample) -> dict[str, Any]:
    """PerformanceStats figures of a sample (latencies in ms, rates in %). Counts and rates
    are per prediction (row); latencies are per request (docs/api.md, "Stats")."""
    total = sample.count()
    failed = sample.count(~sample.success)
    w = sample.weights
    has_confidence = ~np.isnan(sample.confidence)
    latencies = sample.request_latencies
    p50, p95, p99 = sample.percentiles([50, 95, 99]) or (None, None, None)
    return {
        "totalPredictions": total,
        "successfulPredictions": total - failed,
        "failedPredictions": failed,
        "averageLatency": _r(latencies.mean()) if latencies.size else None,
        "medianLatency": _r_or_none(p50),
        "p95Latency": _r_or_none(p95),
        "p99Latency": _r_or_none(p99),
        "averageConfidence": _r(np.average(sample.confidence[has_confidence], weights=w[has_confidence]))
        if has_confidence.any() else None,
        "cacheHitRate": _r(100 * sample.count(sample.cached) / total) if total else 0.0,
        "errorRate": _r(100 * failed / total) if total else 0.0,
    }


def shadow_counts(model_id: str, since: datetime | None) -> dict[str, int]:
    """A challenger's shadow runs (and how many failed), counted apart from what it served."""
    qs = Metric.objects.shadow().filter(model_id=model_id)
    if since is not None:
        qs = qs.filter(timestamp__gte=since)
    counts = qs.aggregate(runs=Sum("rows"), failed=Sum("rows", filter=Q(success=False)))
    return {"shadowRuns": counts["runs"] or 0, "shadowFailures": counts["failed"] or 0}


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
        **shadow_counts(model_id, since),
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
        p50, p95, p99 = part.percentiles([50, 95, 99]) or (None, None, None)
        series["p50"].append(_r_or_none(p50))
        series["p95"].append(_r_or_none(p95))
        series["p99"].append(_r_or_none(p99))
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
    samples: dict[str, Sample]  # served, with times
    shadow: dict[str, Sample]  # shadow runs, with times
    newest: dict[str, datetime]  # newest served metric per model
    accuracy: dict[str, float | None]

    def stats(self, model_id: str, window: int) -> dict[str, Any]:
        """What `model_stats(model_id, window=window)` gives (the accuracy: only for the
        window the metrics were read for)."""
        since = (self.now - timedelta(seconds=window)).timestamp()
        recent, shadow = (self._recent(samples, model_id, since) for samples in (self.samples, self.shadow))
        newest = self.newest.get(model_id)
        return {
            "modelId": model_id,
            **summarise(recent),
            "shadowRuns": shadow.count(), "shadowFailures": shadow.count(~shadow.success),
            "accuracy": self.accuracy.get(model_id),
            "lastUpdated": newest.isoformat() if newest and newest.timestamp() >= since else None,
        }

    def series(self, model_id: str, window: int, buckets: int) -> dict[str, Any]:
        sample = self.samples.get(model_id) or Sample.of([], with_time=True)
        return series_of(sample, window=window, buckets=buckets, now=self.now)

    @staticmethod
    def _recent(samples: dict[str, Sample], model_id: str, since: float) -> Sample:
        sample = samples.get(model_id) or Sample.of([], with_time=True)
        assert sample.epoch is not None
        return sample.subset(sample.epoch >= since)


def metrics_for_dashboard(models: list[MLModel], *, window: int, longest: int) -> DashboardMetrics:
    """One read of the metrics of all `models` over the last `longest` seconds (the
    dashboard's window or a longer health window), and their accuracy over `window`."""
    flush_all()
    now = timezone.now()
    rows: dict[str, list[tuple]] = {m.pk: [] for m in models}
    shadow: dict[str, list[tuple]] = {m.pk: [] for m in models}
    newest: dict[str, datetime] = {}
    metrics = Metric.objects.filter(
        model_id__in=list(rows), kind=PREDICTION, timestamp__gte=now - timedelta(seconds=max(window, longest)),
    ).values_list("model_id", "ab_arm", *SAMPLE_FIELDS, "timestamp")
    for model_id, arm, *fields in metrics:
        if arm == SHADOW:
            shadow[model_id].append(tuple(fields))
            continue
        rows[model_id].append(tuple(fields))
        timestamp = fields[-1]
        if model_id not in newest or timestamp > newest[model_id]:
            newest[model_id] = timestamp
    return DashboardMetrics(
        now=now, samples={pk: Sample.of(r, with_time=True) for pk, r in rows.items()},
        shadow={pk: Sample.of(r, with_time=True) for pk, r in shadow.items()}, newest=newest,
        accuracy=live_accuracies(models, now - timedelta(seconds=window)),
    )


def _r(value: Any) -> float:
    return round(float(value), 3)


def _r_or_none(value: Any) -> float | None:
    return None if value is None else _r(value)
