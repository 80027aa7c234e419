"""The client's address for lockouts: X-Forwarded-For is believed only from a trusted proxy,
so a client cannot reset its own per-address counter by sending the header."""

from __future__ import annotations

from django.test import RequestFactory

from apiauth.backends import client_ip


def test_it_believes_x_forwarded_for_only_from_a_trusted_proxy(settings, monkeypatch):
    factory = RequestFactory()
    spoofed = factory.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_ip(spoofed) == "203.0.113.9"  # no proxy is trusted: the header is ignored
    monkeypatch.setitem(settings.HOTCRM, "TRUSTED_PROXIES", ["10.0.0.0/8"])
    assert client_ip(spoofed) == "203.0.113.9"  # the connection is not from the proxy
    proxied = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7, 10.0.0.3")
    # The client may prepend anything; the proxy appends what it saw: the nearest untrusted hop.
    assert client_ip(proxied) == "198.51.100.7"
