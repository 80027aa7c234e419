"""Recording metrics: each one goes to the Prometheus counters and to the per-process
buffer (monitoring.recorder), which stores many in one INSERT."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from monitoring import prometheus
from monitoring.models import Metric
from monitoring.recorder import metric_buffer

logger = logging.getLogger(__name__)


@dataclass
class MetricRecord:
    model_id: str
    model_version: str
    timestamp: datetime
    latency_ms: float
    confidence: float | None
    cached: bool
    success: bool
    provider: str
    ab_arm: str = ""
    error: str = ""
    error_code: str = ""
    kind: str = "prediction"
    rows: int = 1


def metrics_record(records: list[MetricRecord]) -> None:
    """Record metrics; a failing metric store never fails the request that produced them."""
    try:
        prometheus.observe(records)
        # The buffer stores each record's attributes by the Metric field names: no model
        # instances (their __init__ was a third of recording a 1,000-row batch).
        metric_buffer().add(records)
    except Exception:
        logger.exception("Could not record %d metric(s)", len(records))


def metrics_flush() -> int:
    """Store this process's buffered metrics and prediction log rows now (before reading
    them back); returns how many metrics were stored."""
    from predictions.recording import log_buffer

    log_buffer().flush()
    return metric_buffer().flush()


def metrics_trim(model_id: str, *, keep: int) -> int:
    """Delete a model's metrics older than its `keep` newest, oldest first.

    Two index range reads on (model_id, id): find the id of the newest metric past `keep`,
    then delete that one and everything older. Ids grow with insertion, so lower is older.
    """
    cutoff = (
        Metric.objects.filter(model_id=model_id).order_by("-id").values_list("id", flat=True)[keep:keep + 1]
    )
    cutoff_id = next(iter(cutoff), None)
    if cutoff_id is None:
        return 0
    deleted, _ = Metric.objects.filter(model_id=model_id, id__lte=cutoff_id).delete()
    return deleted
