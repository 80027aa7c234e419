"""Where channels may send: http(s) URLs with a host, under the operator's outbound allow-list."""

from __future__ import annotations

from urllib.parse import urlsplit

from hotcrm_ai.errors import InvalidInput


def check_channel_url(url: str) -> None:
    """Raise InvalidInput (400) for a URL a channel may not post to."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput("A channel URL must be an http or https URL with a host.", code="invalid_channel_url")
