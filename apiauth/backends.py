"""Brute-force protection for password logins (admin and dashboard).

Hand-written rather than django-axes: axes refuses every authenticate() call made without a
request (test clients' login(), management commands), and the lockout needed here is a
counter in the shared cache."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from apiauth.throttling import count_hit
from core.cache import shared_cache


def _client_ip(request: Any) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def lockout_keys(request: Any, username: str | None) -> list[str]:
    name = (username or "").strip().lower()[:150]
    # Per account (a distributed guess at one password) and per address (one client
    # guessing many accounts).
    return [f"login-fail:user:{name}", f"login-fail:ip:{_client_ip(request)}"]


def is_locked_out(request: Any, username: str | None) -> bool:
    limit = settings.HOTCRM["LOGIN_FAILURE_LIMIT"]
    # An address gets more tries than an account: several people may share one (an office
    # behind NAT), and its count is not reset by a good login, which an attacker could do.
    limits = (limit, limit * 4)
    cache = shared_cache()
    return any((cache.get_or_default(key, 0) or 0) >= most
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
            shared_cache().delete(keys[0])
        return user
