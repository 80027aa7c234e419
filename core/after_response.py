"""Work that runs after the response has been sent: Django fires `request_finished` when
the WSGI server closes the response, which gunicorn does once the body is written. That
keeps the work off the caller's clock without a thread pool of our own, on the request's
own database connection.

Two kinds of hook: `after_response(job)` for one request's work (a shadow run), run at
once outside a request (a management command, a direct service call); and
`on_every_response(hook)` for work every request may find due (the write-behind buffers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished, request_started
from django.dispatch import receiver

logger = logging.getLogger(__name__)

Job = Callable[[], None]
_pending: ContextVar[list[Job] | None] = ContextVar("after_response_pending", default=None)
_every_response: list[Job] = []


def after_response(job: Job) -> None:
    """Run `job` once this request's response is sent (now, outside a request)."""
    jobs = _pending.get()
    if jobs is None:
        _run_safely(job)
    else:
        jobs.append(job)


def on_every_response(hook: Job) -> Job:
    """Run `hook` after every response, after that request's own jobs."""
    if hook not in _every_response:
        _every_response.append(hook)
    return hook


@receiver(request_started, dispatch_uid="after_response_request_started")
def _open_request(**kwargs: Any) -> None:
    _pending.set([])


@receiver(request_finished, dispatch_uid="after_response_request_finished")
def _finish_request(**kwargs: Any) -> None:
    jobs = _pending.get() or []
    _pending.set(None)
    for job in [*jobs, *_every_response]:
        _run_safely(job)


def _run_safely(job: Job) -> None:
    try:
        job()
    except Exception:  # after-response work must never hurt the request or the worker
        logger.exception("After-response work failed: %s", getattr(job, "__qualname__", job))
