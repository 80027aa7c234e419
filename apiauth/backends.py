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
    (TRUSTED_PROXIES); then the nearest address in X-Forwarded-For that is not one. A client
    cannot pick its address (and its own lockout counter) by sending the header itself."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    trusted = [_network(p) for p in settings.HOTCRM["TRUSTED_PROXIES"]]
    trusted = [n for n in trusted if n is not None]
    if not trusted or not _in(address, trusted):
        return address
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    for hop in reversed(forwarded):
        if not _in(hop, trusted):
            return hop
    return forwarded[0] if forwarded else address


def _network(pattern: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(pattern.strip(), strict=False)
    except ValueError:
        return None


def _in(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


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
