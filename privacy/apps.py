from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Erasing what is stored about a CRM object on request, and the data's retention."""

    name = "privacy"
    verbose_name = "Privacy and retention"

    def ready(self) -> None:
        import privacy.tasks  # noqa: F401  registers the scheduled purge with Celery
