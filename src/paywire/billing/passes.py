"""One-time passes: what access a paid pass buys, in calendar months of customer time.

Passes of one plan add up: a pass bought while another still runs starts where that one ends,
so buying again extends access instead of overlapping it.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
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


def pass_access_window(product: OneTimeProduct, paid_at: int, runs_until: int | None = None) -> tuple[int, int]:
    """(access_starts_at, access_ends_at) for a pass paid at `paid_at` (customer time): from
    then, or from `runs_until` when passes of the same plan already run until later."""
    starts = paid_at if runs_until is None else max(paid_at, runs_until)
    return starts, add_calendar_months(starts, product.duration_months)


def runs_until(windows: Iterable[tuple[int | None, int | None]], at: int) -> int | None:
    """When access that runs at `at` ends, following passes that start before (or as) the one
    before them ends; None if no pass runs at `at`. Pure."""
    end: int | None = None
    for start, stop in sorted((s, e) for s, e in windows if s is not None and e is not None):
        if end is None:
            if start <= at < stop:
                end = stop
        elif start <= end:
            end = max(end, stop)
    return end
