"""Brute-force protection for password logins (admin and dashboard).

Hand-written rather than django-axes: axes refuses every authenticate() call made without a
request (test clients' login(), management commands), and the lockout needed here is a
counter in the shared cache."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from apiauth.throttling import count_hit, counters


def client_ip(request: Any) -> str:
    """The client's address: the connection's, unless that is a trusted proxy
    (TRUSTED_PROXIES); then the right-most address in X-Forwarded-For that is not one (what
    the nearest untrusted peer was seen as by our own proxies). A client cannot pick its
    address (and its own lockout counter) by sending the header itself: whatever it writes
    there stands left of what our proxy appends. An IPv6 client is counted by its /64, the
    block one subscriber holds (else each of its 2^64 addresses would get its own tries)."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    trusted = [_network(p) for p in settings.HOTCRM["TRUSTED_PROXIES"]]
    trusted = [n for n in trusted if n is not None]
    if trusted and _in(address, trusted):
        # Only the right-most hops matter; a header of thousands is not walked through.
        hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-MAX_FORWARDED_HOPS:]
        for hop in reversed(hops):
            ip = _address(hop)
            if ip is None:
                # Not an address (a proxy's "unknown", or garbage): the chain cannot be
                # followed further; the last trusted hop is the client we can vouch for.
                break
            if not _in(str(ip), trusted):
                return _counted_as(ip)
            address = str(ip)
    ip = _address(address)
    return _counted_as(ip) if ip is not None else address


MAX_FORWARDED_HOPS = 32


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write it: bare, "[v6]", "[v6]:port" or "v4:port"."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _counted_as(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _network(pattern: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(pattern.strip(), strict=False)
    except ValueError:
        return None


def _in(address: str, networks: list) -> bool:
    ip = _address(address)
    return ip is not None and any(ip in network for network in networks)


def lockout_keys(request: Any, username: str | None) -> list[str]:
    name = (username or "").strip().lower()[:150]
    # Per account (a distributed guess at one password) and per address (one client
    # guessing many accounts).
    return [f"login-fail:user:{name}", f"login-fail:ip:{client_ip(request)}"]


def is_locked_out(request: Any, username: str | None) -> bool:
    limit = settings.HOTCRM["LOGIN_FAILURE_LIMIT"]
    # An address gets more tries than an account: several people may share one (an office
    # behind NAT), and its count is not reset by a good login, which an attacker could do.
    limits = (limit, limit * 4)
    return any((counters("get", key, 0) or 0) >= most
               for key, most in zip(lockout_keys(request, username), limits, strict=True))


class LockoutModelBackend(ModelBackend):
    """ModelBackend that refuses a username or client address after too many failures,
    for LOGIN_LOCKOUT_SECONDS."""

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        if request is None:  # not a login over HTTP (tests' force/login, shell)
            return super().authenticate(request, username=username, password=password, **kwargs)
        if is_locked_out(request, username):
            # PermissionDenied stops Django from trying any other backend.
            raise PermissionDenied("Too many failed logins; try again later.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        period = settings.HOTCRM["LOGIN_LOCKOUT_SECONDS"]
        keys = lockout_keys(request, username)
        if user is None:
            for key in keys:
                count_hit(key, period)
        else:
            counters("delete", keys[0])
        return user
