"""Shared generation counters behind the per-process caches of the hot path (registry rows,
API tokens): a process's copy is good while its counter in the shared cache has not moved.

A process reads every counter in one cache round trip, and at most once per
CHECK_INTERVAL, so a warm request usually pays no round trip for them. A write bumps its
counter (after commit) and this process sees it at once; other processes within
CHECK_INTERVAL when the shared cache is Redis, and through their copies' own maximum age
(1 s) when it is the in-process cache. While Redis is configured but cannot be read, copies
last one CHECK_INTERVAL: the database is read again instead.
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
        found = shared_cache().get_many_shared(list(KEYS))
        if found is None:
            # Redis could not be read: the counters are unknown, and a value from this
            # process's stand-in cache could equal the one a stale copy was taken at and keep
            # it. A value of its own per interval instead: every copy is read again from the
            # database at most CHECK_INTERVAL after it was taken.
            _values.update(dict.fromkeys(KEYS, -1 - int(now / CHECK_INTERVAL)))
        else:
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
