"""Where channels may send: the providers' outbound allow-list (core/outbound.py:
PROVIDER_ALLOWED_HOSTS, metadata and link-local addresses never) plus ALERT_ALLOWED_HOSTS and
the host of ALERT_WEBHOOK_URL; checked when a channel is saved and, resolving the host,
before every send."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from core.outbound import outbound_url_check

SETTING = "PROVIDER_ALLOWED_HOSTS or ALERT_ALLOWED_HOSTS"


def alert_allowed_hosts() -> list[str]:
    hosts = [*settings.HOTCRM["PROVIDER_ALLOWED_HOSTS"], *settings.ALERTS["ALLOWED_HOSTS"]]
    if settings.ALERTS["WEBHOOK_URL"]:
        hosts.append(urlsplit(settings.ALERTS["WEBHOOK_URL"]).hostname or "")
    return [h for h in hosts if h]


def check_channel_url(url: str, *, resolve: bool = False) -> None:
    """Raise OutboundRefused (400 outbound_not_allowed) for a URL a channel may not post to."""
    outbound_url_check(url, allowed=alert_allowed_hosts(), resolve=resolve, setting=SETTING)
