"""Recording metrics. One INSERT per request (a bulk INSERT per batch)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from monitoring.models import Metric

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


def metrics_record(records: list[MetricRecord]) -> None:
    """Store metrics; a failing metric store never fails the request that produced them."""
    try:
        Metric.objects.bulk_create([Metric(**vars(r)) for r in records])
    except Exception:
        logger.exception("Could not record %d metric(s)", len(records))
