# The Celery app is loaded with Django, so `@shared_task` and `.delay()` use its settings.
from hotcrm_ai.celery import app as celery_app

__all__ = ("celery_app",)
