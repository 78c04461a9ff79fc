"""The time window of a report and its buckets (days or months, UTC). Pure.

Revenue is dated in Stripe's time (a test clock's for its customers), webhooks in paywire's:
a window is a pair of Unix times applied to each in its own clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

INTERVALS = ("day", "month")
DAY = 86_400


class BadWindow(ValueError):
    """A window that cannot be reported (unknown interval, end before start, too many buckets)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Bucket:
    label: str  # 2026-03-01 or 2026-03
    start: int
    end: int  # exclusive


@dataclass(frozen=True)
class Window:
    start: int
    end: int  # exclusive
    interval: str = "day"

    def buckets(self) -> list[Bucket]:
        found = []
        moment = _floor(self.start, self.interval)
        while moment.timestamp() < self.end:
            after = _next(moment, self.interval)
            label = moment.strftime("%Y-%m-%d" if self.interval == "day" else "%Y-%m")
            found.append(Bucket(label, max(int(moment.timestamp()), self.start), min(int(after.timestamp()), self.end)))
            moment = after
        return found


MAX_BUCKETS = 1000


def window(start: int | None, end: int | None, interval: str, *, now: int) -> Window:
    """A checked window: by default the last 30 days (by day) or 12 months (by month) to now."""
    if interval not in INTERVALS:
        raise BadWindow("interval", "interval must be day or month")
    end = end if end is not None else now
    if start is None:
        start = end - 30 * DAY if interval == "day" else int(_months_back(end, 12).timestamp())
    if end <= start:
        raise BadWindow("to", "to must be after from")
    found = Window(start, end, interval)
    if interval == "day" and (end - start) / DAY > MAX_BUCKETS:
        raise BadWindow("from", f"at most {MAX_BUCKETS} days by day; ask by month")
    return found


def parse_time(value: str | None, field: str) -> int | None:
    """`2026-03-01`, `2026-03-01T12:00Z` (ISO 8601, UTC unless it says) or Unix seconds."""
    if value is None or value == "":
        return None
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        message = f"{field} must be a date (2026-03-01), a time (2026-03-01T12:00Z) or Unix seconds"
        raise BadWindow(field, message) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def day_label(moment: int) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")


def _floor(moment: int, interval: str) -> datetime:
    at = datetime.fromtimestamp(moment, UTC)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if interval == "day" else day.replace(day=1)


def _next(moment: datetime, interval: str) -> datetime:
    if interval == "day":
        return moment + timedelta(days=1)
    return (moment.replace(day=28) + timedelta(days=4)).replace(day=1)


def _months_back(moment: int, months: int) -> datetime:
    at = _floor(moment, "month")
    for _ in range(months - 1):
        at = (at - timedelta(days=1)).replace(day=1)
    return at
