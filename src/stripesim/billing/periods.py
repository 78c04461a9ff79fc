"""Calendar arithmetic for billing periods, as Stripe bills: monthly on the anchor's day,
clamped to the end of shorter months."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any


def add_interval(ts: int, interval: str, count: int = 1, anchor_day: int | None = None) -> int:
    moment = datetime.fromtimestamp(ts, UTC)
    if interval == "day":
        return ts + 86400 * count
    if interval == "week":
        return ts + 7 * 86400 * count
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    month += 1
    day = min(anchor_day or moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def period_end(start: int, recurring: dict[str, Any], anchor: int) -> int:
    anchor_day = datetime.fromtimestamp(anchor, UTC).day
    return add_interval(start, str(recurring["interval"]), int(recurring.get("interval_count") or 1), anchor_day)


def add_months(ts: int, months: int) -> int:
    return add_interval(ts, "month", months)


def day_label(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d %b %Y")
