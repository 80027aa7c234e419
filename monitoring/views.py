"""Pages and plain endpoints of monitoring: /healthz, /metrics and the dashboard."""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apiauth.permissions import dashboard_required
from hotcrm_ai.errors import ApplicationError, InvalidInput, error_body
from monitoring import prometheus
from monitoring.apis import parse_window
from monitoring.dashboard import DEFAULT_WINDOW, WINDOWS, model_page, overview
from predictions.ab.report import ab_test_report
from registry.selectors import model_get


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness for load balancers: the database and the cache answer, or 503."""
    checks = {"database": _check(_database), "cache": _check(_cache)}
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


def _check(probe) -> dict:
    started = time.perf_counter()
    try:
        detail = probe()
    except Exception as exc:
        # The exception's type only: messages of database drivers can carry host names.
        return {"ok": False, "error": type(exc).__name__, "latencyMs": _ms(started)}
    return {"ok": True, "latencyMs": _ms(started), **detail}


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _cache() -> dict:
    # The configured cache itself, not the fallback: readiness means Redis answers.
    cache = caches["default"]
    cache.set("healthz:probe", 1, 10)
    if cache.get("healthz:probe") != 1:
        raise RuntimeError("cache did not return what was stored")
    return {"backend": "redis" if "redis" in type(cache).__module__ else "memory"}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    if expected:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return JsonResponse(error_body("not_authenticated", "/metrics needs Authorization: Bearer "
                                           "<METRICS_TOKEN>."), status=401,
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, content_type = prometheus.exposition()
    return HttpResponse(body, content_type=content_type)


def _window(request: HttpRequest) -> int:
    window = parse_window(request.GET.get("window"), default=DEFAULT_WINDOW)
    if window not in WINDOWS:
        raise InvalidInput(f"'window' must be one of {', '.join(map(str, WINDOWS))}.", code="invalid_window")
    return window


def _windows_context(window: int) -> dict:
    return {"windows": [(s, label) for s, (label, _) in WINDOWS.items()], "window": window}


@dashboard_required
def dashboard(request: HttpRequest) -> HttpResponse:
    window = _window_or_default(request)
    return render(request, "dashboard/index.html", _windows_context(window))


@dashboard_required
def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    try:
        model = model_get(model_id)
    except ApplicationError:
        raise Http404(model_id) from None
    window = _window_or_default(request)
    ab_report = None
    if model.ab_champion_id:  # the challenger of an A/B test (running or ended): its verdict
        try:
            ab_report = ab_test_report(model)
        except ApplicationError:
            ab_report = None
    return render(request, "dashboard/model.html",
                  {"model": model, "ab_report": ab_report, **_windows_context(window)})


def _window_or_default(request: HttpRequest) -> int:
    try:
        return _window(request)
    except ApplicationError:
        return DEFAULT_WINDOW


@dashboard_required
@never_cache
def dashboard_data(request: HttpRequest) -> JsonResponse:
    try:
        return JsonResponse(overview(_window(request)))
    except ApplicationError as exc:
        return JsonResponse(error_body(exc.code, exc.message), status=exc.status)


@dashboard_required
@never_cache
def model_data(request: HttpRequest, model_id: str) -> JsonResponse:
    try:
        return JsonResponse(model_page(model_get(model_id), _window(request)))
    except ApplicationError as exc:
        return JsonResponse(error_body(exc.code, exc.message), status=exc.status)
