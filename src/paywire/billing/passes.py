"""One-time passes: what access a paid pass buys, in calendar months of customer time."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from paywire.catalog import OneTimeProduct


def add_calendar_months(unix_seconds: int, months: int) -> int:
    """The same day and time `months` later (UTC), clamped to the month's last day:
    Jan 31 + 1 month = Feb 28/29, as Stripe counts billing months."""
    start = datetime.fromtimestamp(unix_seconds, UTC)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def pass_access_window(product: OneTimeProduct, paid_at: int) -> tuple[int, int]:
    """(access_starts_at, access_ends_at) for a pass paid at `paid_at` (customer time)."""
    return paid_at, add_calendar_months(paid_at, product.duration_months)
