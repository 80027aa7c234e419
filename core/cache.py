"""The cache manager: the shared cache (Redis when REDIS_URL is set) with the in-process
cache standing in while the shared one is unreachable.

Prediction entries have their own small API (`lookup`, `store`, `stats`, `clear`) so that
a batch costs one round trip to look up all its rows (with the hit/miss counters) and one
to store its misses. Everything else (the registry generation, other apps' counters) goes
through the generic Django-cache methods below them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from cachetools import TLRUCache
from django.conf import settings
from django.core.cache import caches
from django_redis.exceptions import ConnectionInterrupted  # what its cache methods raise
from redis.exceptions import RedisError
from rest_framework.utils.encoders import JSONEncoder

logger = logging.getLogger(__name__)
T = TypeVar("T")
now = time.monotonic  # the outage clock; a name of its own so tests can move it on

# A shared cache that is down, hung or refusing commands: the in-process cache stands in.
SHARED_ERRORS = (RedisError, ConnectionInterrupted, OSError)
PREFIX = "pred"
HITS_KEY = "cachestats:hits"
MISSES_KEY = "cachestats:misses"

# One round trip for a whole batch: read every row's entry and count hits and misses
# where every app-server process sees them. KEYS = hits counter, misses counter, entries.
LOOKUP_SCRIPT = """
local values = redis.call('MGET', unpack(KEYS, 3))
local hits = 0
for i = 1, #values do
  if values[i] then hits = hits + 1 end
end
local misses = #values - hits
if hits > 0 then redis.call('INCRBY', KEYS[1], hits) end
if misses > 0 then redis.call('INCRBY', KEYS[2], misses) end
return values
"""


@dataclass(frozen=True)
class CachedAnswer:
    prediction: Any
    confidence: float | None
    confidence_source: str = "model"


@dataclass(frozen=True)
class Entry:
    key: str  # from `entry_key`, without the cache's own prefix
    answer: CachedAnswer
    ttl: int  # seconds, > 0


def entry_key(model_id: str, digest: str) -> str:
    """The model id stays readable so that one model's entries can be cleared by pattern."""
    return f"{PREFIX}:{model_id}:{digest}"


def _encode(answer: CachedAnswer) -> str:
    # DRF's encoder, so a cached answer renders exactly like a fresh one (numpy scalars too).
    return json.dumps([answer.prediction, answer.confidence, answer.confidence_source], cls=JSONEncoder,
                      separators=(",", ":"))


def _decode(raw: str | bytes) -> CachedAnswer:
    prediction, confidence, *source = json.loads(raw)  # entries from before the source: "model"
    return CachedAnswer(prediction, confidence, *source[:1])


class MemoryEntries:
    """The in-process prediction entries: per-entry TTL, least recently used evicted first.

    cachetools' TLRUCache instead of Django's LocMemCache because the stats need the number
    of live entries and a clear needs one model's entries, which LocMemCache cannot give.
    """

    def __init__(self, max_entries: int) -> None:
        # Values are (encoded answer, ttl); the TTL decides each entry's expiry time.
        self._entries: TLRUCache[str, tuple[str, int]] = TLRUCache(
            maxsize=max_entries, ttu=lambda key, value, at: at + value[1], timer=time.monotonic
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def lookup(self, keys: list[str]) -> list[str | None]:
        with self._lock:
            found = [self._entries.get(k) for k in keys]
            values = [None if f is None else f[0] for f in found]
            hits = sum(v is not None for v in values)
            self.hits += hits
            self.misses += len(values) - hits
        return values

    def store(self, entries: Iterable[tuple[str, str, int]]) -> None:
        with self._lock:
            for key, value, ttl in entries:
                self._entries[key] = (value, ttl)

    def size(self) -> int:
        with self._lock:
            self._entries.expire()
            return len(self._entries)

    def clear(self, model_id: str | None = None) -> int:
        with self._lock:
            self._entries.expire()
            if model_id is None:
                count = len(self._entries)
                self._entries.clear()
                return count
            prefix = entry_key(model_id, "")
            doomed = [k for k in self._entries if k.startswith(prefix)]
            for key in doomed:
                del self._entries[key]
            return len(doomed)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


class CacheManager:
    def __init__(self) -> None:
        self._down_until = 0.0
        self._was_down = False
        self._script: Any = None
        self.memory = MemoryEntries(settings.HOTCRM["MEMORY_CACHE_MAX_ENTRIES"])

    # --- which cache ---------------------------------------------------------------------

    @property
    def uses_redis(self) -> bool:
        return bool(settings.REDIS_URL)

    def _shared_available(self) -> bool:
        return self.uses_redis and now() >= self._down_until

    @property
    def backend(self) -> str:
        return "redis" if self._shared_available() else "memory"

    def _shared_failed(self, exc: BaseException) -> None:
        # After a failure the shared cache is not tried again for a while, so a dead Redis
        # costs one short timeout per window, not one per request.
        self._down_until = now() + settings.HOTCRM["CACHE_RETRY_AFTER"]
        if not self._was_down:
            logger.warning("Shared cache unreachable (%s); using the in-process cache.", type(exc).__name__)
        self._was_down = True

    def _shared_answered(self) -> None:
        if self._was_down:
            # Entries written during the outage are dropped, so nothing from that time is
            # served later (after another outage) beyond what Redis itself holds.
            self._was_down = False
            self.memory.clear()
            logger.warning("Shared cache reachable again; using it.")

    def _either(self, shared: Callable[[], T], memory: Callable[[], T]) -> T:
        if self._shared_available():
            try:
                result = shared()
            except SHARED_ERRORS as exc:
                self._shared_failed(exc)
            else:
                self._shared_answered()
                return result
        return memory()

    def reset(self) -> None:
        """Forget an outage and the in-process entries (tests, and after a settings change)."""
        self._down_until = 0.0
        self._was_down = False
        self._script = None
        self.memory.reset()

    # --- prediction entries --------------------------------------------------------------

    def lookup(self, keys: list[str]) -> list[CachedAnswer | None]:
        """One answer (or None) per key, in order; counts the hits and misses."""
        if not keys:
            return []
        raw: list[Any] = self._either(lambda: self._redis_lookup(keys), lambda: self.memory.lookup(keys))
        return [None if value is None else _decode(value) for value in raw]

    def store(self, entries: list[Entry]) -> None:
        if not entries:
            return
        encoded = [(e.key, _encode(e.answer), e.ttl) for e in entries if e.ttl > 0]
        self._either(lambda: self._redis_store(encoded), lambda: self.memory.store(encoded))

    def stats(self) -> dict[str, Any]:
        def shared() -> dict[str, Any]:
            cache = caches["default"]
            hits, misses = self._redis().mget([cache.make_key(HITS_KEY), cache.make_key(MISSES_KEY)])
            size = sum(1 for _ in _django_redis().iter_keys(f"{PREFIX}:*", itersize=1000))
            return {"size": size, "hits": int(hits or 0), "misses": int(misses or 0), "backend": "redis"}

        def memory() -> dict[str, Any]:
            return {"size": self.memory.size(), "hits": self.memory.hits,
                    "misses": self.memory.misses, "backend": "memory"}

        return self._either(shared, memory)

    def clear(self, model_id: str | None = None) -> dict[str, Any]:
        """Delete the prediction entries (all, or one model's): how many went, and from where
        (during an outage only this process's in-process entries can go)."""
        pattern = entry_key(model_id, "*") if model_id else f"{PREFIX}:*"
        in_memory = self.memory.clear(model_id)
        return self._either(
            # delete_pattern scans and deletes our prefix's keys only, never the whole database.
            lambda: {"deleted": _django_redis().delete_pattern(pattern, itersize=1000), "backend": "redis"},
            lambda: {"deleted": in_memory, "backend": "memory"},
        )

    def _redis(self) -> Any:
        return _django_redis().client.get_client(write=True)

    def _redis_lookup(self, keys: list[str]) -> list[bytes | None]:
        client, cache = self._redis(), caches["default"]
        if self._script is None:
            self._script = client.register_script(LOOKUP_SCRIPT)
        names = [cache.make_key(HITS_KEY), cache.make_key(MISSES_KEY), *map(cache.make_key, keys)]
        return self._script(keys=names, client=client)

    def _redis_store(self, encoded: list[tuple[str, str, int]]) -> None:
        cache = caches["default"]
        pipe = self._redis().pipeline(transaction=False)
        for key, value, ttl in encoded:
            pipe.set(cache.make_key(key), value, ex=ttl)
        pipe.execute()

    # --- generic keys (registry generation, counters of other apps) -----------------------

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._either(
            lambda: getattr(caches["default"], method)(*args, **kwargs),
            lambda: getattr(caches["memory"], method)(*args, **kwargs),
        )

    def get_or_default(self, key: str, default: Any = None) -> Any:
        value = self._call("get", key)
        return default if value is None else value

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        return self._call("get_many", keys) if keys else {}

    def get_many_shared(self, keys: list[str]) -> dict[str, Any] | None:
        """The values every process sees, or None when they are unknown: Redis is configured
        but did not answer this call (down, or in its retry pause). Never the stand-in's
        values, and not inferred afterwards from `backend`, which another thread's failure
        or a zero CACHE_RETRY_AFTER can make say either thing."""
        if not self.uses_redis:
            return self.get_many(keys)
        if not self._shared_available():
            return None
        try:
            found = caches["default"].get_many(keys)
        except SHARED_ERRORS as exc:
            self._shared_failed(exc)
            return None
        self._shared_answered()
        return found

    def set_many(self, mapping: dict[str, Any], timeout: int) -> None:
        if mapping:
            self._call("set_many", mapping, timeout)

    def set(self, key: str, value: Any, timeout: int | None) -> None:
        self._call("set", key, value, timeout)

    def add(self, key: str, value: Any, timeout: int | None) -> bool:
        """Set only when absent; True when this call set it (atomic in Redis)."""
        return bool(self._call("add", key, value, timeout))

    def incr(self, key: str, delta: int = 1) -> int:
        try:
            return self._call("incr", key, delta)
        except ValueError:  # the key does not exist yet
            self._call("add", key, 0, None)
            return self._call("incr", key, delta)

    def delete(self, key: str) -> None:
        self._call("delete", key)


_manager: CacheManager | None = None


def shared_cache() -> CacheManager:
    global _manager
    if _manager is None:
        _manager = CacheManager()
    return _manager


def _django_redis() -> Any:
    """The shared cache when it is django-redis's: its Redis-only methods (iter_keys,
    delete_pattern, the raw client) are not on Django's cache type."""
    return caches["default"]
