"""Real deliveries over each kind of channel: a Slack incoming webhook's `{text}`, an email
through Django's SMTP backend to a local aiosmtpd server, and test notifications."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from alerts import services
from alerts.models import Delivery
from tests.alerts.support import rule, webhook_channel
from tests.faults.servers import free_port
from tests.monitoring.support import add_metrics
from tests.predictions.providers.servers import Reply

pytestmark = pytest.mark.django_db


class Inbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    yield inbox
    controller.stop()


def test_it_posts_slack_text_to_an_incoming_webhook(receiver, evaluate):
    slack = services.channel_create(data={"name": "slack", "kind": "slack", "url": f"{receiver.url}/services/T1/B2/xyz"})
    rule(channels=[slack], model_id="churn-prediction-v1")
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    evaluate()
    [request] = receiver.requests
    assert request.path == "/services/T1/B2/xyz"
    body = json.loads(request.body)
    assert list(body) == ["text"]
    assert body["text"].startswith("[FIRING] churn-prediction-v1 · unhealthy: churn-prediction-v1 is unhealthy")
    assert "/dashboard/models/churn-prediction-v1/|dashboard>" in body["text"]
    # Whoever holds a Slack URL can post to it: stored encrypted, shown as its host only.
    slack.refresh_from_db()
    assert "xyz" not in slack.url and "T1" not in slack.url and "xyz" not in slack.secret_encrypted


def test_it_emails_every_address_through_djangos_email_backend(smtp, evaluate):
    email = services.channel_create(data={"name": "ops-mail", "kind": "email",
                                          "emails": ["ops@example.com", "oncall@example.com"]})
    rule(channels=[email], model_id="churn-prediction-v1")
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    evaluate()
    add_metrics("churn-prediction-v1", [10] * 200)
    evaluate()
    assert [sorted(to) for to, _ in smtp.messages] == [["oncall@example.com", "ops@example.com"]] * 2
    subjects = [message_from_bytes(content, policy=policy.default)["Subject"].strip() for _, content in smtp.messages]
    assert subjects == ["[HotCRM AI] FIRING: churn-prediction-v1 · unhealthy",
                        "[HotCRM AI] RESOLVED: churn-prediction-v1 · unhealthy"]
    body = message_from_bytes(smtp.messages[0][1]).get_payload(decode=True).decode()
    assert "Error rate 100.0% is above 10%" in body and "/dashboard/models/churn-prediction-v1/" in body
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_it_records_a_refused_email_and_tries_again(settings, evaluate):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    email = services.channel_create(data={"name": "nobody", "kind": "email", "emails": ["ops@example.com"]})
    rule(channels=[email], model_id="churn-prediction-v1")
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    evaluate()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert "ConnectionRefusedError" in delivery.last_error


def test_it_sends_a_test_notification_and_says_how_it_went(receiver):
    channel = webhook_channel(receiver.url)
    _delivery, result = services.channel_send_test(channel=channel)
    assert result.ok and result.status_code == 204
    [(kind, body)] = receiver.events()
    assert kind == "alert.test" and body["incident"] is None
    receiver.handle = lambda request: Reply(500, b"")
    _, failed = services.channel_send_test(channel=channel)
    assert not failed.ok and failed.error == "HTTP 500"
    assert Delivery.objects.filter(event="alert.test").count() == 2


def test_it_keeps_a_rules_line_break_out_of_the_email_subject(smtp, evaluate):
    email = services.channel_create(data={"name": "ops-mail", "kind": "email", "emails": ["ops@example.com"]})
    rule("churn\nBcc: victim@example.com", channels=[email], model_id="churn-prediction-v1")
    add_metrics("churn-prediction-v1", [10] * 5, success=False)
    evaluate()
    [(to, content)] = smtp.messages
    assert to == ["ops@example.com"]
    message = message_from_bytes(content, policy=policy.default)
    assert message["Bcc"] is None and "victim" not in (message["To"] or "")
    assert "churn Bcc: victim@example.com" in message["Subject"]
