"""Time ranges: `{"last": 7, "unit": "days"}`, named periods and absolute dates, resolved
to absolute instants, and the period before one."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from reporting.query.whitelist import FIRST_YEAR, LAST_YEAR, PERIODS, UNITS, QueryInvalid


def instant(value: str) -> datetime:
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is None:
                raise QueryInvalid(f"'{value[:40]}' is not an ISO date or time.")
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:  # well formed but impossible: 2026-02-30, 25:00
        raise QueryInvalid(f"'{value[:40]}' is not a valid date or time.") from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    # Bounded so that the previous period of a comparison stays a representable date too.
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise QueryInvalid(f"'{value[:40]}' is outside the years {FIRST_YEAR}-{LAST_YEAR}.")
    return parsed


def _day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _quarter_start(year: int, quarter: int) -> datetime:
    return datetime(year, 3 * (quarter - 1) + 1, 1, tzinfo=UTC)


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _period(name: str, now: datetime) -> tuple[datetime, datetime, str]:
    today = _day_start(now)
    week = today - timedelta(days=today.weekday())
    month = today.replace(day=1)
    quarter = _quarter_start(now.year, (now.month - 1) // 3 + 1)
    year = today.replace(month=1, day=1)
    spans = {
        "today": (today, now, "today"),
        "yesterday": (today - timedelta(days=1), today, "yesterday"),
        "this_week": (week, now, "this week"),
        "this_month": (month, now, "this month"),
        "this_quarter": (quarter, now, "this quarter"),
        "this_year": (year, now, "this year"),
        "last_week": (week - timedelta(days=7), week, "last week"),
        "last_month": (add_months(month, -1), month, "last month"),
        "last_quarter": (add_months(quarter, -3), quarter, "last quarter"),
        "last_year": (year.replace(year=year.year - 1), year, "last year"),
    }
    return spans[name]


def time_range_resolve(raw: Any, now: datetime) -> dict[str, str] | None:
    """{from, to, label} in absolute ISO instants (from inclusive, to exclusive)."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise QueryInvalid("'timeRange' must be an object.")
    keys = set(raw) - {"label"}
    if keys == {"from", "to"} or keys == {"from"}:
        start = instant(str(raw["from"]))
        end = instant(str(raw["to"])) if "to" in raw else now
        label = raw.get("label") or f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    elif keys == {"last", "unit"}:
        n, unit = raw["last"], raw["unit"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 3660 or unit not in UNITS:
            raise QueryInvalid("'timeRange.last' is a whole number 1-3660 and 'unit' hours, days or weeks.")
        start, end = now - timedelta(days=n * UNITS[unit]), now
        label = f"the last {n} {unit[:-1] if n == 1 else unit}"
    elif keys == {"period"}:
        if raw["period"] not in PERIODS:
            raise QueryInvalid(f"'timeRange.period' must be one of {', '.join(PERIODS)}.")
        start, end, label = _period(raw["period"], now)
    elif keys in ({"quarter"}, {"quarter", "year"}):
        q, year = raw["quarter"], raw.get("year", now.year)
        if q not in (1, 2, 3, 4) or isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
            raise QueryInvalid("'timeRange.quarter' is 1-4 and 'year' 2000-2100.")
        start = _quarter_start(year, q)
        end, label = add_months(start, 3), f"Q{q} {year}"
    else:
        raise QueryInvalid("'timeRange' is {from, to}, {last, unit}, {period} or {quarter, year}.")
    if end <= start:
        raise QueryInvalid("'timeRange' ends before it starts.")
    return {"from": start.isoformat(), "to": end.isoformat(), "label": label}


def previous_range(time_range: dict[str, str]) -> dict[str, str]:
    start, end = instant(time_range["from"]), instant(time_range["to"])
    return {"from": (start - (end - start)).isoformat(), "to": start.isoformat(),
            "label": "the previous period"}
