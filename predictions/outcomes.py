"""Outcomes by object: the CRM reports what happened to an object ("lead L-1001 converted")
without the prediction ids. The outcome reaches the object's latest prediction per model
asked (`requested_model_id`: the model the CRM called, so an A/B test's object gets it on the
arm that answered it) made within OUTCOME_WINDOW_DAYS, and is recorded exactly as feedback by
id records it (predictions.feedback: outcome_to_record decides, outcomes_store writes):
validated per model, idempotent, a different outcome a 409, the shadow twin included. Live accuracy, the A/B verdict and the
dashboard read the same `PredictionLog.actual`.

An item is all or nothing: when one of the predictions it reaches refuses the outcome (a
label another model does not know, a different outcome already recorded), none gets it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hotcrm_ai.errors import ApplicationError, InvalidInput, NotFound, NotSupported
from predictions.feedback import feedback_response, outcome_to_record, outcomes_store
from predictions.models import PredictionLog
from predictions.recording import log_buffer
from predictions.serializers import OutcomeReached


@dataclass(frozen=True)
class ObjectOutcome:
    object_type: str
    object_id: str
    actual: Any
    model_id: str | None = None  # only the predictions of (or answered by) this model
    actual_is_text: bool = False  # a CSV cell: a number may come as its text


@dataclass
class Reached:
    log: PredictionLog
    recorded: bool  # False: it already had this outcome


@dataclass
class OutcomeResult:
    reached: list[Reached] = field(default_factory=list)
    error: ApplicationError | None = None

    @property
    def recorded(self) -> bool:
        return any(r.recorded for r in self.reached)


@dataclass(frozen=True)
class _Candidate:
    pk: Any
    requested_model_id: str
    model_id: str
    created_at: datetime


def object_outcome_record(outcome: ObjectOutcome) -> OutcomeResult:
    """One outcome; its refusal is raised (404, 400, 409, 422)."""
    result = object_outcomes_record([outcome])[0]
    if result.error is not None:
        raise result.error
    return result


def object_outcomes_record(outcomes: list[ObjectOutcome]) -> list[OutcomeResult]:
    """Each outcome on its own: one refused never stops the others. The candidates of all of
    them are read in one query, the predictions they reach locked in one, and the outcomes
    stored in one UPDATE per distinct value, in one short transaction (a 1,000-item batch:
    a handful of statements, not thousands)."""
    # This process's rows still in its write-behind buffer would be missed: store them first.
    log_buffer().flush()
    candidates = _latest_per_model(outcomes)
    results = [OutcomeResult() for _ in outcomes]
    targets: dict[int, list[Any]] = {}
    for index, outcome in enumerate(outcomes):
        try:
            targets[index] = _targets(outcome, candidates.get((outcome.object_type, outcome.object_id), []))
        except ApplicationError as exc:
            results[index].error = exc
    if targets:
        _record(outcomes, targets, results)
    return results


@transaction.atomic
def _record(outcomes: list[ObjectOutcome], targets: dict[int, list[Any]], results: list[OutcomeResult]) -> None:
    wanted = {pk for pks in targets.values() for pk in pks}
    locked = PredictionLog.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
    logs = {str(log.pk): log for log in locked}
    model_types: dict[str, str | None] = {}
    now = timezone.now()
    decided: dict[Any, Any] = {}
    for index, pks in targets.items():
        try:
            reached = _decide(outcomes[index], [logs[str(pk)] for pk in pks if str(pk) in logs], model_types)
        except ApplicationError as exc:
            results[index].error = exc
            continue
        for log, value in reached:
            if value is not None:  # later items of this batch see it as recorded
                log.actual, log.feedback_at = value, now
                decided[log.pk] = value
        results[index].reached = [Reached(log, value is not None) for log, value in reached]
    outcomes_store(decided, now)


def _decide(outcome: ObjectOutcome, logs: list[PredictionLog], model_types: dict[str, str | None]) -> list[tuple[PredictionLog, Any]]:
    """Every prediction the outcome reaches with what it is to record (None: it has it), or
    the refusal of the first that refuses: then none records it."""
    if not logs:  # erased since they were found
        raise _not_found(outcome)
    decided = []
    for log in sorted(logs, key=lambda log: (log.model_id, str(log.pk))):
        try:
            decided.append((log, outcome_to_record(log, outcome.actual, model_types, text_numbers=outcome.actual_is_text)))
        except (InvalidInput, NotSupported) as exc:
            if len(logs) > 1:  # several models' predictions: say which one refused, and how to choose
                exc.message = f"{exc.message} (model '{log.model_id}'; send modelId to report an outcome to one model only)"
            raise
    return decided


def outcome_window_start() -> datetime:
    return timezone.now() - timedelta(days=settings.HOTCRM["OUTCOME_WINDOW_DAYS"])


def reached_response(reached: Reached) -> OutcomeReached:
    """A prediction an outcome reached: as feedback answers, with the model the CRM asked for
    and whether this call recorded it."""
    log = reached.log
    return feedback_response(log, OutcomeReached, requestedModelId=log.requested_model_id,
                             predictedAt=log.created_at.isoformat(), recorded=reached.recorded)


def _latest_per_model(outcomes: list[ObjectOutcome]) -> dict[tuple[str, str], list[_Candidate]]:
    """Per object, its latest answered (not shadow) prediction within the window for each
    model asked."""
    wanted = {(o.object_type, o.object_id) for o in outcomes}
    if not wanted:
        return {}
    rows = PredictionLog.objects.filter(
        object_id__in={object_id for _, object_id in wanted}, object_type__in={t for t, _ in wanted},
        shadow=False, created_at__gte=outcome_window_start(),
    ).values_list("pk", "requested_model_id", "model_id", "created_at", "object_type", "object_id")
    latest: dict[tuple[str, str], dict[str, _Candidate]] = defaultdict(dict)
    for pk, requested, model_id, created_at, object_type, object_id in rows.iterator(chunk_size=2000):
        key = (object_type, object_id)
        if key not in wanted:
            continue
        best = latest[key].get(requested)
        # Ids are UUIDv7 (time-ordered): they break a tie of timestamps.
        if best is None or (created_at, str(pk)) > (best.created_at, str(best.pk)):
            latest[key][requested] = _Candidate(pk, requested, model_id, created_at)
    return {key: list(per_model.values()) for key, per_model in latest.items()}


def _targets(outcome: ObjectOutcome, candidates: list[_Candidate]) -> list[Any]:
    model_id = outcome.model_id
    targets = [c.pk for c in candidates if model_id is None or model_id in (c.requested_model_id, c.model_id)]
    if not targets:
        raise _not_found(outcome)
    return targets


def _not_found(outcome: ObjectOutcome) -> NotFound:
    by_model = f" by model '{outcome.model_id}'" if outcome.model_id else ""
    days = settings.HOTCRM["OUTCOME_WINDOW_DAYS"]
    return NotFound(
        f"No prediction{by_model} for {outcome.object_type} '{outcome.object_id}' in the last {days} days "
        "(OUTCOME_WINDOW_DAYS): an outcome reaches predictions made with this objectType and objectId "
        "in their context.", code="no_prediction_for_object",
    )
