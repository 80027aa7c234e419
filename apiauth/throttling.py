"""Per-token request limits, counted in the shared cache so that every app-server process
counts against the same budget.

Hand-written rather than DRF's SimpleRateThrottle: that one keeps a list of timestamps and
writes it back (read-modify-write), which loses hits when several processes race; an atomic
INCR on a fixed window does not."""

from __future__ import annotations

import re
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from core.cache import shared_cache

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
            "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' -> (600, 60). Raise ValueError for anything else."""
    match = RATE_RE.match(rate.lower())
    if not match or match.group(2) not in _PERIODS or int(match.group(1)) < 1:
        raise ValueError(f"{rate!r} is not a rate: use e.g. '600/min' (per s, min, hour or day).")
    return int(match.group(1)), _PERIODS[match.group(2)]


def counters(method: str, *args: Any) -> Any:
    """Throttle and lockout counters: on Redis through the cache manager (a dead Redis does not
    stop requests; the limit is per process until it is back), else in the file cache every
    process of this machine shares (settings.LIMITS_CACHE)."""
    manager = shared_cache()
    if manager.uses_redis or "limits" not in settings.CACHES:
        return manager._call(method, *args)
    return getattr(caches["limits"], method)(*args)


def count_hit(key: str, period: int, hits: int = 1) -> int:
    """Add `hits` to `key`, which expires with its window; return the hits so far."""
    # INCR first: after a window's first hit that is the only call (one round trip), and
    # the backends refuse to INCR a missing key rather than create one without an expiry.
    try:
        return counters("incr", key, hits)
    except ValueError:  # the window's first hit (or its key just expired)
        if counters("add", key, hits, period + 1):
            return hits
        return counters("incr", key, hits)  # another process added it between the two calls


class TokenRateThrottle(BaseThrottle):
    """Each token (or logged-in user) gets its own rate: the token's `throttle_rate`, else
    HOTCRM['THROTTLE_RATE']."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        return self._hit(request, 1)

    def _hit(self, request: Any, hits: int) -> bool:
        identity, rate = self._identity_and_rate(request)
        if identity is None or not rate:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        if count_hit(f"throttle:{identity}:{period}:{window}", period, hits) <= limit:
            return True
        self._wait = (window + 1) * period - now
        return False

    @classmethod
    def charge(cls, request: Any, hits: int) -> None:
        """Count `hits` more against the caller's rate (work a request does on its behalf, such
        as the rows an explanation sends to a paid provider); 429 once the rate is spent."""
        throttle = cls()
        if hits > 0 and not throttle._hit(request, hits):
            raise Throttled(throttle.wait())

    def wait(self) -> float | None:
        return self._wait

    @staticmethod
    def _identity_and_rate(request: Any) -> tuple[str | None, str]:
        token = getattr(request, "auth", None)
        default = settings.HOTCRM["THROTTLE_RATE"]
        if token is not None and hasattr(token, "throttle_rate"):
            return f"token:{token.pk}", token.throttle_rate or default
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and getattr(user, "pk", None) is not None:
            return f"user:{user.pk}", default
        return None, ""
