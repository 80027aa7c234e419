"""Storing metrics: every record (core.metrics) goes to the Prometheus counters and to this
process's metric buffer (core.write_behind), which stores many in one INSERT and trims each
model's metrics to their retention as it goes."""

from __future__ import annotations

import logging
import operator
from collections import Counter

from django.conf import settings

from core.metrics import MetricRecord, recorder_register
from core.write_behind import WriteBuffer, insert_rows, register
from monitoring import prometheus
from monitoring.models import Metric

logger = logging.getLogger(__name__)


@recorder_register
def metrics_store(records: list[MetricRecord]) -> None:
    """Count the records in Prometheus and queue them for the database. The buffer stores
    each record's attributes by the Metric field names: no model instances (their __init__
    was a third of recording a 1,000-row batch)."""
    prometheus.observe(records)
    metric_buffer().add(records)


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


class MetricBuffer(WriteBuffer):
    what = "metric"

    def __init__(self) -> None:
        super().__init__()
        self._since_trim: Counter[str] = Counter()  # stored per model since its last trim

    def discard(self) -> None:
        super().discard()
        self._since_trim.clear()

    def store(self, batch: list[Metric]) -> None:
        _insert(batch)

    def store_failed(self, batch: list[Metric]) -> None:
        prometheus.METRIC_STORE_FAILURES.inc()
        super().store_failed(batch)

    def stored(self, batch: list[Metric]) -> None:
        retention = settings.HOTCRM["METRICS_RETENTION"]
        # Trimming costs one indexed lookup and one DELETE; doing it every `every` inserts
        # per model keeps each model within retention + every, never scanning the table.
        every = max(1, min(500, retention // 20))
        self._since_trim.update(m.model_id for m in batch)
        for model_id, count in list(self._since_trim.items()):
            if count >= every:
                self._since_trim[model_id] = 0
                try:
                    metrics_trim(model_id, keep=retention)
                except Exception:
                    logger.exception("Could not trim the metrics of %s", model_id)


def _insert(batch: list[Metric]) -> None:
    """The metrics (records or Metric instances) in one INSERT."""
    fields = [f for f in Metric._meta.concrete_fields if not f.primary_key]
    get = operator.attrgetter(*(f.attname for f in fields))
    insert_rows(Metric, fields, [get(m) for m in batch])


_buffer = register(MetricBuffer())


def metric_buffer() -> MetricBuffer:
    return _buffer
