"""Alert writes: channels and rules, the evaluation cycle and its incident state machine,
deliveries and their attempts, acknowledgements, and the lease that keeps one evaluator.

The state machine per (rule, model), evaluated every ALERT_INTERVAL seconds:

    (nothing) --holds--> pending --held `for` s--> firing --clears--> resolved
                         pending --clears--> (deleted; nobody was told)

Windowed conditions (errorRate, p95Latency, noTraffic, jobFailed) go straight to firing.
A resolved incident keeps the same rule and model quiet for `cooldown` seconds. Every
transition is a conditional UPDATE (`WHERE status = ...`), and deliveries are unique per
(incident, channel, event): two evaluators racing can only notify once.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from alerts.channels import SendResult, check_outbound, display_url, encrypt_secret, send
from alerts.conditions import Facts, Finding, evaluate
from alerts.models import (
    Channel,
    Condition,
    Delivery,
    DeliveryAttempt,
    EvaluatorLease,
    Incident,
    Level,
    Rule,
)
from core.write_behind import flush_all
from hotcrm_ai.celery import app as celery_app
from hotcrm_ai.errors import ApplicationError
from registry.models import MLModel, ModelStatus

logger = logging.getLogger(__name__)
OPEN = [Incident.Status.PENDING, Incident.Status.FIRING]
ENV_WEBHOOK, ENV_EMAIL, ENV_RULE = "environment-webhook", "environment-email", "environment-unhealthy"


# --- channels and rules -------------------------------------------------------------------

def check_webhook_secret(secret: str) -> None:
    """Standard Webhooks' secret: `whsec_` then base64 of 24 to 64 random bytes."""
    raw = secret.removeprefix("whsec_") if secret.startswith("whsec_") else None
    try:
        key = base64.b64decode(raw or "", validate=True) if raw else b""
    except (binascii.Error, ValueError):
        key = b""
    if not 24 <= len(key) <= 64:
        raise ValidationError({"secret": "A webhook secret is whsec_ followed by the base64 of 24 to 64 random "
                                          "bytes, e.g. 'whsec_' + base64 of os.urandom(32)."})


def channel_create(*, data: dict[str, Any], secret: str | None = None) -> Channel:
    channel = Channel(**data)
    return _channel_save(channel, secret=secret, url=data.get("url"))


def channel_update(*, channel: Channel, data: dict[str, Any], secret: str | None = None) -> Channel:
    for field, value in data.items():
        setattr(channel, field, value)
    return _channel_save(channel, secret=secret, url=data.get("url"))


def _channel_save(channel: Channel, *, secret: str | None, url: str | None) -> Channel:
    channel_prepare(channel, secret=secret, url=url)
    channel.save()
    return channel


def channel_prepare(channel: Channel, *, secret: str | None, url: str | None) -> Channel:
    """Set the write-only parts and validate, without storing. A Slack URL is a secret
    (whoever has it can post): kept encrypted, shown as its host only."""
    if channel.kind == Channel.Kind.SLACK and url is not None:
        secret, channel.url = url, display_url(url) if url else ""
    if channel.kind == Channel.Kind.WEBHOOK and secret is not None:
        check_webhook_secret(secret)
    if secret is not None:
        channel.secret_encrypted = encrypt_secret(secret)
    errors = _channel_errors(channel, url)
    if errors:
        raise ValidationError(errors)
    channel.full_clean()
    return channel


def _channel_errors(channel: Channel, url: str | None) -> dict[str, str]:
    if channel.kind in (Channel.Kind.WEBHOOK, Channel.Kind.SLACK):
        has_url = bool(channel.secret_encrypted if channel.kind == Channel.Kind.SLACK else channel.url)
        if not has_url:
            return {"url": f"A {channel.kind} channel needs a url."}
        if url:
            try:
                check_outbound(url)
            except ApplicationError as exc:
                return {"url": exc.message}
        if channel.kind == Channel.Kind.WEBHOOK and not channel.secret_encrypted:
            return {"secret": "A webhook channel needs a secret (whsec_ followed by base64 of 24 to 64 bytes)."}
        return {}
    emails = channel.emails
    if not isinstance(emails, list) or not emails or not all(isinstance(e, str) for e in emails):
        return {"emails": "An email channel needs a list of addresses."}
    from django.core.validators import validate_email

    for address in emails:
        try:
            validate_email(address)
        except ValidationError:
            return {"emails": f"'{address[:100]}' is not an email address."}
    return {}


def rule_create(*, data: dict[str, Any], channels: list[Channel] | None = None) -> Rule:
    return _rule_save(Rule(**data), channels)


def rule_update(*, rule: Rule, data: dict[str, Any], channels: list[Channel] | None = None) -> Rule:
    for field, value in data.items():
        setattr(rule, field, value)
    return _rule_save(rule, channels)


def _rule_save(rule: Rule, channels: list[Channel] | None) -> Rule:
    rule.full_clean()
    with transaction.atomic():
        rule.save()
        if channels is not None:
            rule.channels.set(channels)
    return rule


def incident_acknowledge(*, incident: Incident, actor: str) -> Incident:
    """Someone is on it. Acknowledging again changes nothing."""
    updated = Incident.objects.filter(pk=incident.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=actor[:200])
    if updated:
        incident.refresh_from_db()
    return incident


# --- the defaults from the environment ----------------------------------------------------

def alerts_apply_environment() -> None:
    """ALERT_WEBHOOK_URL / ALERT_EMAILS: channels and one `unhealthy` rule over every model,
    kept in step with the environment (disabled when it no longer names any)."""
    config = settings.ALERTS
    wanted: list[Channel] = []
    if config["WEBHOOK_URL"]:
        wanted.append(_environment_channel(ENV_WEBHOOK, Channel.Kind.WEBHOOK, url=config["WEBHOOK_URL"],
                                           secret=config["WEBHOOK_SECRET"]))
    if config["EMAILS"]:
        wanted.append(_environment_channel(ENV_EMAIL, Channel.Kind.EMAIL, emails=config["EMAILS"]))
    rule = Rule.objects.filter(name=ENV_RULE).first()
    if not wanted:
        if rule is not None and rule.enabled and rule.from_environment:
            Rule.objects.filter(pk=rule.pk).update(enabled=False)
        return
    if rule is None:
        rule = rule_create(data={"name": ENV_RULE, "condition": Condition.HEALTH, "level": Level.UNHEALTHY,
                                 "from_environment": True}, channels=wanted)
    elif rule.from_environment and set(rule.channels.all()) != set(wanted):
        rule.channels.set(wanted)


def _environment_channel(name: str, kind: str, *, url: str = "", emails: list[str] | None = None,
                         secret: str | None = None) -> Channel:
    channel = Channel.objects.filter(name=name).first()
    if channel is None:
        channel = Channel(name=name, kind=kind, from_environment=True)
    elif channel.url == url and channel.emails == (emails or []) and channel.kind == kind:
        return channel  # unchanged: no re-encryption every cycle
    channel.kind, channel.url, channel.emails = kind, url, emails or []
    return _channel_save(channel, secret=secret, url=url or None)


# --- the evaluation cycle ----------------------------------------------------------------

def alerts_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Judge every enabled rule over the models in its scope; returns counts of what changed."""
    now = now or timezone.now()
    flush_all()  # this process's buffered metrics count too
    alerts_apply_environment()
    rules = list(Rule.objects.filter(enabled=True).prefetch_related("channels"))
    models = {m.pk: m for m in MLModel.objects.filter(status=ModelStatus.ACTIVE).select_related("ab_champion")}
    open_incidents = {(i.rule_id, i.model_id): i for i in Incident.objects.filter(status__in=OPEN)}
    facts = Facts(now)
    counts = {"rules": len(rules), "checks": 0, "fired": 0, "resolved": 0, "pending": 0, "errors": 0}
    for rule in rules:
        scope = [models[rule.model_id]] if rule.model_id in models else ([] if rule.model_id else models.values())
        for model in scope:
            counts["checks"] += 1
            incident = open_incidents.pop((rule.pk, model.pk), None)
            try:
                finding = evaluate(rule, model, facts)
            except Exception:
                # One model's bad config or a failing read never stops the others being judged;
                # its incident stays as it is until it can be judged again.
                logger.exception("Rule %s could not judge %s", rule.name, model.pk)
                counts["errors"] += 1
                continue
            change = incident_step(rule=rule, model_id=model.pk, finding=finding, now=now, incident=incident)
            if change:
                counts[change] += 1
    # Whatever is still open belongs to a rule or model no longer judged: it resolves.
    for incident in open_incidents.values():
        if incident_step(rule=incident.rule, model_id=incident.model_id, finding=Finding(False), now=now,
                         incident=incident) == "resolved":
            counts["resolved"] += 1
    return counts


def incident_step(*, rule: Rule | None, model_id: str, finding: Finding, now: datetime,
                  incident: Incident | None) -> str | None:
    """Move one (rule, model) through the state machine; returns the transition, if any."""
    if finding.firing:
        if incident is None:
            if rule is None or _cooling_down(rule, model_id, now):
                return None
            incident = _incident_open(rule, model_id, finding, now)
            if incident is None:
                return None  # another evaluator opened it first
        if incident.status == Incident.Status.PENDING:
            if rule is not None and (rule.windowed or now - incident.since >= timedelta(seconds=rule.for_seconds)):
                return "fired" if _transition(incident, Incident.Status.FIRING, finding.reason, now) else None
            return "pending"
        return None
    if incident is None:
        return None
    if incident.status == Incident.Status.PENDING:
        Incident.objects.filter(pk=incident.pk, status=Incident.Status.PENDING).delete()
        return None
    return "resolved" if _transition(incident, Incident.Status.RESOLVED, "", now) else None


def _cooling_down(rule: Rule, model_id: str, now: datetime) -> bool:
    if not rule.cooldown_seconds:
        return False
    return Incident.objects.filter(rule=rule, model_id=model_id, status=Incident.Status.RESOLVED,
                                   resolved_at__gt=now - timedelta(seconds=rule.cooldown_seconds)).exists()


def _incident_open(rule: Rule, model_id: str, finding: Finding, now: datetime) -> Incident | None:
    try:
        with transaction.atomic():
            return Incident.objects.create(rule=rule, rule_name=rule.name, condition=rule.condition,
                                           model_id=model_id, reason=finding.reason, since=now)
    except IntegrityError:
        return None


def _transition(incident: Incident, status: str, reason: str, now: datetime) -> bool:
    """The conditional UPDATE that only one evaluator can win, and the winner's notifications."""
    expected = Incident.Status.PENDING if status == Incident.Status.FIRING else Incident.Status.FIRING
    fields: dict[str, Any] = {"status": status}
    if status == Incident.Status.FIRING:
        fields |= {"fired_at": now, "reason": reason[:5000]}
    else:
        fields["resolved_at"] = now
    with transaction.atomic():
        if not Incident.objects.filter(pk=incident.pk, status=expected).update(**fields):
            return False
        incident.refresh_from_db()
        event = Delivery.Event.FIRING if status == Incident.Status.FIRING else Delivery.Event.RESOLVED
        channels = list(incident.rule.channels.filter(enabled=True)) if incident.rule else []
        deliveries_create(incident=incident, event=event, channels=channels)
    return True


# --- deliveries ---------------------------------------------------------------------------

def incident_payload(incident: Incident | None, event: str) -> dict[str, Any]:
    """The webhook body of the spec."""
    base = settings.ALERTS["PUBLIC_URL"]
    if incident is None:
        return {"type": event, "incident": None, "dashboardUrl": f"{base}/dashboard/"}
    iso = lambda value: value.isoformat().replace("+00:00", "Z") if value else None  # noqa: E731
    return {
        "type": event,
        "incident": {"id": incident.pk, "modelId": incident.model_id, "rule": incident.rule_name,
                     "condition": incident.condition, "status": incident.status, "reason": incident.reason,
                     "firedAt": iso(incident.fired_at), "resolvedAt": iso(incident.resolved_at)},
        "dashboardUrl": f"{base}/dashboard/models/{incident.model_id}/",
    }


def deliveries_create(*, incident: Incident, event: str, channels: list[Channel]) -> list[Delivery]:
    """One delivery per channel, each queued as its own task once the transaction commits,
    so a channel that hangs or fails never holds up the others."""
    payload = incident_payload(incident, event)
    deliveries = [Delivery.objects.create(incident=incident, channel=c, event=event, payload=payload)
                  for c in channels]
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: deliveries_enqueue(ids))
    return deliveries


def deliveries_enqueue(ids: list[int]) -> None:
    # By name from the app's registry: alerts.tasks calls these services, not the other way.
    deliver = celery_app.tasks["alerts.deliver"]
    for delivery_id in ids:
        deliver.delay(delivery_id)


def delivery_attempt(delivery_id: int, *, last: bool) -> SendResult | None:
    """One attempt, recorded. `last`: no retry follows, so a failure marks it failed.
    Returns None when there is nothing (left) to send: safe to run twice."""
    delivery = Delivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Delivery.Status.PENDING:
        return None
    started = timezone.now()
    result = send(delivery.channel, delivery)
    number = delivery.attempts + 1
    DeliveryAttempt.objects.create(delivery=delivery, number=number, started_at=started,
                                   duration_ms=result.duration_ms, ok=result.ok,
                                   status_code=result.status_code, error=result.error)
    fields: dict[str, Any] = {"attempts": number, "last_error": result.error}
    if result.ok:
        fields |= {"status": Delivery.Status.SENT, "sent_at": timezone.now()}
    elif last or not result.retryable:
        fields["status"] = Delivery.Status.FAILED
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    if not result.ok:
        logger.warning("Delivery %s (%s to channel %s) attempt %d failed: %s", delivery.pk, delivery.event,
                       delivery.channel.name, number, result.error)
    return result


def channel_send_test(*, channel: Channel) -> tuple[Delivery, SendResult]:
    """Send a test notification now, once (the admin and the API wait for the answer)."""
    delivery = Delivery.objects.create(channel=channel, event=Delivery.Event.TEST,
                                       payload=incident_payload(None, Delivery.Event.TEST))
    result = delivery_attempt(delivery.pk, last=True)
    assert result is not None  # a new delivery is pending
    return delivery, result


def retry_delay(retries: int) -> float:
    """Exponential backoff with full jitter (AWS's "Exponential Backoff And Jitter")."""
    import random

    config = settings.ALERTS
    ceiling = min(config["RETRY_BACKOFF_MAX"], config["RETRY_BACKOFF"] * 2 ** retries)
    return random.uniform(ceiling / 2, ceiling)


# --- one evaluator ------------------------------------------------------------------------

def _holder() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def evaluator_lease_take(*, now: datetime | None = None) -> bool:
    """Take the lease if no cycle is running and none started in the last half interval.

    A conditional UPDATE of one row: atomic on SQLite and PostgreSQL alike, so it holds
    across processes and machines whatever the cache is (the in-process cache is not shared).
    """
    now = now or timezone.now()
    interval = settings.ALERTS["INTERVAL"]
    EvaluatorLease.objects.get_or_create(pk=1)
    # A crashed holder's lease lapses after a few intervals.
    hold = timedelta(seconds=max(60, 5 * interval))
    taken = EvaluatorLease.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now), pk=1,
    ).filter(Q(started_at__isnull=True) | Q(started_at__lte=now - timedelta(seconds=interval / 2))).update(
        holder=_holder(), started_at=now, locked_until=now + hold)
    return bool(taken)


def evaluator_lease_release(duration_ms: float) -> None:
    EvaluatorLease.objects.filter(pk=1, holder=_holder()).update(
        locked_until=None, finished_at=timezone.now(), last_duration_ms=duration_ms)


def alerts_run_cycle() -> dict[str, Any] | None:
    """The scheduled entry point: one cycle if this process wins the lease, else None."""
    if not evaluator_lease_take():
        return None
    started = time.perf_counter()
    try:
        counts = alerts_evaluate()
    finally:
        evaluator_lease_release(round((time.perf_counter() - started) * 1000, 2))
    return counts | {"durationMs": round((time.perf_counter() - started) * 1000, 2)}
