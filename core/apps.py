from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared infrastructure every app builds on: the cache, the write-behind buffers,
    generation counters and the after-response hooks. It imports no other app."""

    name = "core"

    def ready(self) -> None:
        from core import after_response, write_behind  # noqa: F401  connects the request signals
