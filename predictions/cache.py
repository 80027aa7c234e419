"""The cache manager: the shared cache (Redis when REDIS_URL is set) with the in-process
cache standing in while the shared one is unreachable."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)


class CacheManager:
    # After a failure the shared cache is not tried again for this long, so a dead Redis
    # costs one short timeout, not one per request.
    RETRY_AFTER = 5.0

    def __init__(self) -> None:
        self._down_until = 0.0

    @property
    def uses_redis(self) -> bool:
        return bool(settings.REDIS_URL)

    def _shared_available(self) -> bool:
        return self.uses_redis and time.monotonic() >= self._down_until

    @property
    def backend(self) -> str:
        return "redis" if self._shared_available() else "memory"

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._shared_available():
            try:
                return getattr(caches["default"], method)(*args, **kwargs)
            except Exception as exc:  # redis.ConnectionError, TimeoutError, ...
                self._down_until = time.monotonic() + self.RETRY_AFTER
                logger.warning("Shared cache unreachable (%s); using the in-process cache.", type(exc).__name__)
        return getattr(caches["memory"], method)(*args, **kwargs)

    def get_or_default(self, key: str, default: Any = None) -> Any:
        value = self._call("get", key)
        return default if value is None else value

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        return self._call("get_many", keys) if keys else {}

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


_manager = CacheManager()


def shared_cache() -> CacheManager:
    return _manager
