"""The sync's progress bar: drawn on a terminal only, its length estimated from the mirror."""

from __future__ import annotations

import io

from paywire.reconcile.progress import ProgressBar, render


def test_the_bar_fills_with_the_count_and_says_when_its_length_is_an_estimate() -> None:
    assert render("invoices", 0, 0, 0).endswith("[████████████████████████]      0/0  drift 0")
    half = render("subscriptions", 40, 80, 3)
    assert half.startswith("subscriptions [████████████░░░░░░░░░░░░]     40/~80  drift 3")
    assert render("customers", 90, 80, 0).endswith("     90/90  drift 0"), "a longer list stretches the bar"


def test_the_bar_is_redrawn_in_place_and_cleared_for_other_output() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, enabled=True)
    bar.start("subscriptions", expected=2)
    bar.advance()
    bar.drifted()
    bar.clear()
    bar.advance()
    bar.finish()
    text = stream.getvalue()
    assert text.count("\r\033[K") >= 3
    assert text.rstrip("\n").endswith("2/2  drift 1")


def test_nothing_is_drawn_off_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, enabled=False)
    bar.start("invoices", expected=5)
    bar.advance()
    bar.finish()
    assert stream.getvalue() == ""
