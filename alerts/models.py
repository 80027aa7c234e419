"""Alerts: where notifications go (channels), when (rules), what happened (incidents) and
every attempt to tell someone (deliveries and their attempts)."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Channel(models.Model):
    """A place notifications go. A webhook's signing secret is stored encrypted like
    provider credentials and never shown again."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (Standard Webhooks signature)"
        SLACK = "slack", "Slack incoming webhook"
        EMAIL = "email", "Email"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    url = models.URLField(max_length=2000, blank=True)
    emails = models.JSONField(default=list, blank=True)
    secret_encrypted = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    # Created from ALERT_WEBHOOK_URL / ALERT_EMAILS; kept in step with them by the evaluator.
    from_environment = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["webhook", "slack", "email"]), name="channel_kind_is_known"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def secret_set(self) -> bool:
        return bool(self.secret_encrypted)


class Condition(models.TextChoices):
    HEALTH = "health", "Health reaches a level"
    DRIFT = "drift", "Input drift"
    ERROR_RATE = "errorRate", "Error rate above X % over N s"
    P95_LATENCY = "p95Latency", "p95 latency above X ms over N s"
    NO_TRAFFIC = "noTraffic", "No traffic for N s (on a model that had traffic)"
    AB_VERDICT = "abVerdict", "A/B verdict reached"
    CIRCUIT_OPEN = "circuitOpen", "Provider circuit open"
    JOB_FAILED = "jobFailed", "A bulk scoring job failed"


class Level(models.TextChoices):
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


# Conditions measured over the last `for_seconds` (jobFailed: default an hour), fired at
# once; the others must hold for `for_seconds` across evaluations before they fire.
WINDOWED = {Condition.ERROR_RATE, Condition.P95_LATENCY, Condition.NO_TRAFFIC, Condition.JOB_FAILED}


class Rule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    condition = models.CharField(max_length=20, choices=Condition.choices)
    level = models.CharField(max_length=10, choices=Level.choices, blank=True,
                             help_text="For health: the level that fires (degraded also fires on unhealthy).")
    threshold = models.FloatField(null=True, blank=True, help_text="errorRate: %; p95Latency: ms.")
    for_seconds = models.PositiveIntegerField(
        default=0, help_text="errorRate, p95Latency, noTraffic: the window measured. "
                             "Others: how long the condition must hold before it fires.")
    model = models.ForeignKey("registry.MLModel", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="alert_rules", help_text="Empty: every active model.")
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    cooldown_seconds = models.PositiveIntegerField(
        default=300, help_text="After an incident resolves, the same rule and model stay quiet this long.")
    min_samples = models.PositiveIntegerField(
        default=10, help_text="Predictions (or inputs, for drift) needed before the condition is judged.")
    enabled = models.BooleanField(default=True)
    from_environment = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(condition__in=Condition.values), name="rule_condition_is_known"),
            models.CheckConstraint(condition=Q(level__in=["", *Level.values]), name="rule_level_is_known"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def windowed(self) -> bool:
        return self.condition in WINDOWED

    def clean(self) -> None:
        if errors := self.condition_errors():
            raise ValidationError(errors)

    def condition_errors(self) -> dict[str, str]:
        """What each condition needs; checked by full_clean() for the API and the admin alike."""
        rule, condition = self, self.condition
        if condition == Condition.HEALTH and rule.level not in Level.values:
            return {"level": "A health rule needs a level: degraded or unhealthy."}
        if condition == Condition.ERROR_RATE and (rule.threshold is None or not 0 <= rule.threshold < 100):
            return {"threshold": "An errorRate rule needs a threshold in % from 0 to below 100."}
        if condition == Condition.P95_LATENCY and (rule.threshold is None or not 0 < rule.threshold <= 3_600_000):
            return {"threshold": "A p95Latency rule needs a threshold in ms above 0."}
        if condition in (Condition.ERROR_RATE, Condition.P95_LATENCY, Condition.NO_TRAFFIC) and not rule.for_seconds:
            return {"for_seconds": f"A {condition} rule needs forSeconds: the window it measures."}
        if rule.for_seconds > 30 * 86_400:
            return {"for_seconds": "forSeconds is at most 30 days."}
        if rule.cooldown_seconds > 30 * 86_400:
            return {"cooldown_seconds": "cooldownSeconds is at most 30 days."}
        if rule.min_samples > 1_000_000:
            return {"min_samples": "minSamples is at most 1,000,000."}
        return {}


class Incident(models.Model):
    """One (rule, model) going wrong: pending while a rule's `for` duration runs (never
    notified, never listed), then firing, then resolved; one notification each."""

    class Status(models.TextChoices):
        PENDING = "pending"
        FIRING = "firing"
        RESOLVED = "resolved"

    rule = models.ForeignKey(Rule, null=True, on_delete=models.SET_NULL, related_name="incidents")
    # Copied from the rule: the history stays readable after the rule or model is gone.
    rule_name = models.CharField(max_length=100)
    condition = models.CharField(max_length=20, choices=Condition.choices)
    model_id = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    since = models.DateTimeField(help_text="When the condition was first seen.")
    fired_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-since", "-id"]
        indexes = [models.Index(fields=["model_id", "-since"], name="incident_model_since")]
        constraints = [
            # Two evaluators racing can never open two incidents for one rule and model.
            models.UniqueConstraint(fields=["rule", "model_id"], condition=Q(status__in=["pending", "firing"]),
                                    name="one_open_incident_per_rule_and_model"),
            models.CheckConstraint(condition=Q(status__in=["pending", "firing", "resolved"]),
                                   name="incident_status_is_known"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model_id} {self.rule_name} {self.status}"


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Delivery(models.Model):
    """One notification to one channel (retried until sent or given up)."""

    class Event(models.TextChoices):
        FIRING = "alert.firing"
        RESOLVED = "alert.resolved"
        TEST = "alert.test"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=20, choices=Event.choices)
    # The Standard Webhooks `webhook-id`: the same on every retry so receivers can deduplicate.
    message_id = models.CharField(max_length=40, unique=True, default=new_message_id, editable=False)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # One notification per incident transition and channel, whoever evaluates.
            models.UniqueConstraint(fields=["incident", "channel", "event"], condition=Q(incident__isnull=False),
                                    name="one_delivery_per_incident_event_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.channel.name}: {self.status}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {'ok' if self.ok else self.error}"


class EvaluatorLease(models.Model):
    """One row: which process runs the evaluation cycle, until when. Taken with a
    conditional UPDATE, so two beat schedulers on any machines never run a cycle at once."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    holder = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(null=True)
    locked_until = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    last_duration_ms = models.FloatField(null=True)

    def __str__(self) -> str:
        return f"evaluator lease held by {self.holder or 'nobody'}"
