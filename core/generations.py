"""Shared generation counters behind the per-process caches of the hot path (registry rows,
API tokens): a process's copy is good while its counter in the shared cache has not moved.

A process reads every counter in one cache round trip, and at most once per
CHECK_INTERVAL, so a warm request usually pays no round trip for them. A write bumps its
counter (after commit) and this process sees it at once; other processes within
CHECK_INTERVAL when the shared cache is Redis, and through their copies' own maximum age
when it is the in-process cache.
"""

from __future__ import annotations

import time

from core.cache import shared_cache

CHECK_INTERVAL = 0.25
REGISTRY = "registry:generation"
TOKENS = "apiauth:generation"
KEYS = (REGISTRY, TOKENS)

_values: dict[str, int] = {}
_read_at = float("-inf")


def current(key: str) -> int:
    global _read_at
    now = time.monotonic()
    if now - _read_at >= CHECK_INTERVAL:
        found = shared_cache().get_many(list(KEYS))
        _values.update({k: int(found.get(k) or 0) for k in KEYS})
        _read_at = now
    return _values[key]


def bump(key: str) -> None:
    shared_cache().incr(key)
    forget()


def forget() -> None:
    """Read the counters again on next use."""
    global _read_at
    _read_at = float("-inf")
