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


def test_it_counts_one_client_whatever_port_or_ipv6_address_it_comes_from(settings, monkeypatch):
    """Behind a proxy that writes "address:port" each new connection of one client has a new
    port; an IPv6 subscriber holds a whole /64. Neither may give a client a fresh counter."""
    factory = RequestFactory()
    monkeypatch.setitem(settings.HOTCRM, "TRUSTED_PROXIES", ["10.0.0.0/8", "fd00::/8"])

    def seen(remote: str, forwarded: str) -> str:
        return client_ip(factory.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded))

    assert seen("10.0.0.2", "198.51.100.7:4711") == seen("10.0.0.2", "198.51.100.7:4712") == "198.51.100.7"
    assert seen("10.0.0.2", "[2001:db8:1:2::1]:443") == seen("10.0.0.2", "2001:db8:1:2:ffff::9") \
        == seen("fd00::1", "2001:db8:1:2::77") == "2001:db8:1:2::/64"
    assert seen("10.0.0.2", "::ffff:198.51.100.7") == "198.51.100.7"
    assert client_ip(factory.get("/", REMOTE_ADDR="2001:db8:9:9::1")) == client_ip(
        factory.get("/", REMOTE_ADDR="2001:db8:9:9::2")) == "2001:db8:9:9::/64"
    # What cannot be followed (a proxy's "unknown", garbage) ends the chain at the last proxy.
    assert seen("10.0.0.2", "198.51.100.7, unknown") == "10.0.0.2"
    assert seen("10.0.0.2", "1.2.3.4, " * 5000 + "198.51.100.8") == "198.51.100.8"
