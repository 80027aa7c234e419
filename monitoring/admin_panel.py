"""The read-only "Health and stats" panel on a model's admin page."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html, format_html_join

from monitoring.health import model_health
from monitoring.selectors import model_stats

COLORS = {"healthy": "#1a7f4b", "degraded": "#b26a00", "unhealthy": "#c62828"}


def health_panel(model) -> str:
    if not model.pk:
        return "—"
    health = model_health(model)
    window = health["details"]["windowSeconds"]
    recent = model_stats(model.pk, window=window)
    retained = model_stats(model.pk)
    rows = [
        ("Predictions", recent["totalPredictions"], retained["totalPredictions"]),
        ("Error rate", _pct(recent["errorRate"]), _pct(retained["errorRate"])),
        ("Median latency", _ms(recent["medianLatency"]), _ms(retained["medianLatency"])),
        ("p95 latency", _ms(recent["p95Latency"]), _ms(retained["p95Latency"])),
        ("p99 latency", _ms(recent["p99Latency"]), _ms(retained["p99Latency"])),
        ("Cache-hit rate", _pct(recent["cacheHitRate"]), _pct(retained["cacheHitRate"])),
        ("Average confidence", _num(recent["averageConfidence"]), _num(retained["averageConfidence"])),
        ("Accuracy (feedback)", _pct(recent["accuracy"]), _pct(retained["accuracy"])),
    ]
    return format_html(
        '<div class="hotcrm-health"><p><strong style="color:{};text-transform:capitalize">{}</strong>{}</p>'
        '<table><thead><tr><th></th><th>last {} s</th><th>all retained</th></tr></thead><tbody>{}</tbody></table>'
        '<p><a href="{}">Open this model on the dashboard</a></p></div>',
        COLORS[health["status"]], health["status"],
        format_html(" — {}", health["reason"]) if health.get("reason") else "",
        window,
        format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows),
        reverse("dashboard-model", args=[model.pk]),
    )


def _pct(value) -> str:
    return "—" if value is None else f"{value:.1f} %"


def _ms(value) -> str:
    return "—" if value is None else f"{value:.2f} ms"


def _num(value) -> str:
    return "—" if value is None else f"{value:.1f}"
