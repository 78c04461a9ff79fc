from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from paywire.billing.passes import add_calendar_months, pass_access_window, runs_until
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


def test_a_pass_bought_while_one_runs_starts_where_it_ends() -> None:
    product = load_catalog().products["pass-3-months"]
    paid, running = ts(2030, 6, 15), ts(2030, 8, 1)
    assert pass_access_window(product, paid, running) == (running, ts(2030, 11, 1))
    assert pass_access_window(product, paid, None) == (paid, ts(2030, 9, 15))
    assert pass_access_window(product, paid, ts(2030, 6, 1)) == (paid, ts(2030, 9, 15)), "an ended one is ignored"


def test_access_runs_through_passes_bought_back_to_back() -> None:
    first, second, later = (
        (ts(2030, 1, 1), ts(2030, 4, 1)),
        (ts(2030, 4, 1), ts(2030, 7, 1)),
        (ts(2031, 1, 1), ts(2031, 4, 1)),
    )
    assert runs_until([second, later, first], ts(2030, 2, 1)) == ts(2030, 7, 1)
    assert runs_until([first, second], ts(2030, 5, 1)) == ts(2030, 7, 1)
    assert runs_until([first, second, later], ts(2030, 8, 1)) is None, "a gap ends the run"
    assert runs_until([first, (None, None)], ts(2030, 2, 1)) == ts(2030, 4, 1), (
        "an unfulfilled order counts for nothing"
    )


@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 10**5)), max_size=6), st.integers(0, 2 * 10**6))
def test_the_run_ends_after_now_and_at_the_end_of_a_pass(spans: list[tuple[int, int]], at: int) -> None:
    windows = [(start, start + length) for start, length in spans]
    end = runs_until(windows, at)
    if any(start <= at < stop for start, stop in windows):
        assert end is not None and end > at and end in {stop for _, stop in windows}
    else:
        assert end is None
