"""Helpers for the alert tests: a webhook receiver that verifies Standard Webhooks
signatures twice (with the `standardwebhooks` reference library and by hand, from the
spec's definition), and channels and rules made through the services."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from standardwebhooks.webhooks import Webhook

from alerts import services
from alerts.models import Channel, Rule
from tests.predictions.providers.servers import LocalServer, Reply, Request

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


def verify(request: Request, secret: str = SECRET) -> dict:
    """The body of a correctly signed request; raises if the signature is wrong."""
    headers = request.headers
    Webhook(secret).verify(request.body, headers)  # the reference implementation
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert expected in headers["webhook-signature"].split(" ")
    return json.loads(request.body)


class Receiver(LocalServer):
    """Answers 204 to every POST (unless scripted otherwise) and keeps what it got."""

    def __init__(self) -> None:
        super().__init__(lambda request: Reply(204, b""))

    def events(self, secret: str = SECRET) -> list[tuple[str, dict]]:
        return [(body["type"], body) for body in (verify(r, secret) for r in self.requests if r.method == "POST")]


def webhook_channel(url: str, name: str = "ops-webhook", secret: str = SECRET) -> Channel:
    return services.channel_create(data={"name": name, "kind": "webhook", "url": url}, secret=secret)


def rule(name: str = "unhealthy", channels: list[Channel] | None = None, **fields) -> Rule:
    data = {"name": name, "condition": "health", "level": "unhealthy", "cooldown_seconds": 0,
            "min_samples": 1} | fields
    return services.rule_create(data=data, channels=channels or [])
