"""Sending one notification over one channel: a Standard Webhooks-signed POST, a Slack
incoming-webhook POST, or an email through Django's email backend.

Error texts name what failed (status, timeout, refused) and never the URL: a Slack URL is
itself a secret, and a webhook URL may carry a token.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail
from standardwebhooks.webhooks import Webhook

from alerts.models import Channel, Delivery
from alerts.outbound import SETTING, alert_allowed_hosts
from core.outbound import OutboundTransport
from hotcrm_ai.errors import ApplicationError
from registry.crypto import decrypt_credentials, encrypt_credentials

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str = ""
    duration_ms: float = 0.0
    retryable: bool = True


def encrypt_secret(value: str) -> str:
    return encrypt_credentials({"secret": value}) if value else ""


def channel_secret(channel: Channel) -> str:
    return decrypt_credentials(channel.secret_encrypted).get("secret", "")


def target_url(channel: Channel) -> str:
    """Where a webhook or Slack channel posts (a Slack URL is kept encrypted, as a secret)."""
    return channel_secret(channel) if channel.kind == Channel.Kind.SLACK else channel.url


def display_url(url: str) -> str:
    """A Slack URL as it may be shown: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def send(channel: Channel, delivery: Delivery) -> SendResult:
    started = time.perf_counter()
    try:
        result = SENDERS[Channel.Kind(channel.kind)](channel, delivery)
    except ApplicationError as exc:  # refused by the outbound allow-list: retrying cannot help
        result = SendResult(False, error=exc.message, retryable=False)
    except httpx.TimeoutException:
        result = SendResult(False, error=f"timed out after {settings.ALERTS['DELIVERY_TIMEOUT']:g} s")
    except httpx.HTTPError as exc:
        result = SendResult(False, error=f"connection failed ({type(exc).__name__})")
    except OSError as exc:  # smtplib's errors and socket timeouts are OSErrors
        result = SendResult(False, error=f"email not accepted ({type(exc).__name__}: {_smtp_detail(exc)})")
    except Exception as exc:
        # Whatever else goes wrong is recorded as a failed attempt, never a delivery left hanging.
        logger.exception("Sending over channel %s failed unexpectedly", channel.pk)
        result = SendResult(False, error=f"unexpected {type(exc).__name__}", retryable=False)
    return SendResult(result.ok, result.status_code, result.error[:500],
                      round((time.perf_counter() - started) * 1000, 2), result.retryable)


def _post(url: str, body: bytes, headers: dict[str, str]) -> SendResult:
    check_outbound(url, resolve=True)
    timeout = settings.ALERTS["DELIVERY_TIMEOUT"]
    # The transport connects only to the addresses it checked (no second lookup to rebind).
    transport = OutboundTransport(allowed=alert_allowed_hosts(), setting=SETTING)
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)), follow_redirects=False,
                      transport=transport) as client:
        response = client.post(url, content=body, headers={"Content-Type": "application/json", **headers})
    if 200 <= response.status_code < 300:
        return SendResult(True, response.status_code)
    return SendResult(False, response.status_code, f"HTTP {response.status_code}")


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(secret: str, message_id: str, body: bytes, when: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers: the signature is v1 HMAC-SHA256 of `id.timestamp.body`."""
    when = when or datetime.now(tz=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, when, body),
    }


def _webhook(channel: Channel, delivery: Delivery) -> SendResult:
    body = body_bytes(delivery.payload)
    return _post(channel.url, body, signed_headers(channel_secret(channel), delivery.message_id, body))


def _slack(channel: Channel, delivery: Delivery) -> SendResult:
    return _post(target_url(channel), body_bytes({"text": summary_text(delivery.payload)}), {})


def _email(channel: Channel, delivery: Delivery) -> SendResult:
    subject, text = email_text(delivery.payload)
    send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, list(channel.emails), fail_silently=False)
    return SendResult(True)


SENDERS = {Channel.Kind.WEBHOOK: _webhook, Channel.Kind.SLACK: _slack, Channel.Kind.EMAIL: _email}


def _smtp_detail(exc: BaseException) -> str:
    return str(exc)[:200]


def summary_text(payload: dict[str, Any]) -> str:
    """One line for Slack and email subjects."""
    incident = payload.get("incident")
    if not incident:
        return f"HotCRM AI test notification: this channel works. {payload.get('dashboardUrl', '')}".strip()
    state = "FIRING" if payload["type"] == Delivery.Event.FIRING else "RESOLVED"
    return (f"[{state}] {incident['modelId']} · {incident['rule']}: {incident['reason']} "
            f"<{payload['dashboardUrl']}|dashboard>")


def email_text(payload: dict[str, Any]) -> tuple[str, str]:
    incident = payload.get("incident")
    if not incident:
        return "[HotCRM AI] Test notification", "This channel works.\n\n" + payload.get("dashboardUrl", "")
    state = "FIRING" if payload["type"] == Delivery.Event.FIRING else "RESOLVED"
    # One line: a rule's name may hold a line break, which no email header may.
    subject = " ".join(f"[HotCRM AI] {state}: {incident['modelId']} · {incident['rule']}".split())
    lines = [
        f"{state}: {incident['reason']}", "",
        f"Model:     {incident['modelId']}", f"Rule:      {incident['rule']}",
        f"Fired at:  {incident['firedAt']}", f"Resolved:  {incident['resolvedAt'] or '-'}", "",
        f"Dashboard: {payload['dashboardUrl']}",
    ]
    return subject, "\n".join(lines)


def check_outbound(url: str, *, resolve: bool = False) -> None:
    """Channel URLs are checked when a channel is saved and again before every send."""
    from alerts.outbound import check_channel_url

    check_channel_url(url, resolve=resolve)
