from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from paywire.billing.passes import add_calendar_months, pass_access_window
from paywire.catalog import load_catalog


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())  # type: ignore[misc]


def test_three_calendar_months() -> None:
    assert add_calendar_months(ts(2030, 1, 15, 12, 30), 3) == ts(2030, 4, 15, 12, 30)
    assert add_calendar_months(ts(2030, 11, 30), 3) == ts(2031, 2, 28)
    assert add_calendar_months(ts(2031, 11, 30), 3) == ts(2032, 2, 29)  # leap year
    assert add_calendar_months(ts(2030, 1, 31), 1) == ts(2030, 2, 28)


def test_the_pass_window() -> None:
    product = load_catalog().products["pass-3-months"]
    assert pass_access_window(product, ts(2030, 5, 1)) == (ts(2030, 5, 1), ts(2030, 8, 1))


@given(st.integers(0, 4_000_000_000), st.integers(1, 36))
def test_months_always_move_forward_by_28_to_31_days_each(start: int, months: int) -> None:
    end = add_calendar_months(start, months)
    assert 28 * 86400 * months <= end - start <= 31 * 86400 * months
