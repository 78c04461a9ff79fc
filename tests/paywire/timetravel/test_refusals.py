"""Time travel refuses what it cannot do, saying why: a live key, a user with no customer or
no clock, a move backwards, a span or a date it cannot read."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from paywire.cli.main import main
from paywire.config import load_settings
from paywire.db.repositories import customers
from paywire.stripe import StripeGateway
from paywire.timetravel import ClockRefused, advance, parse_moment, parse_span
from tests.support.stripesim import LIVE_SHAPED_KEY


def test_spans_and_moments() -> None:
    assert [parse_span(s) for s in ("31d", "12h", "2w", "90m", " 30s ")] == [31 * 86400, 43200, 14 * 86400, 5400, 30]
    assert parse_moment("2027-01-15") == 1_799_971_200
    assert parse_moment("2027-01-15T10:00Z") == 1_799_971_200 + 36_000
    assert parse_moment("1800000000") == 1_800_000_000
    for bad in ("31", "a month", "-3d"):
        with pytest.raises(ClockRefused):
            parse_span(bad)
    with pytest.raises(ClockRefused):
        parse_moment("next tuesday")


def travel(sessions: sessionmaker[Session], key: str, user_id: str, **moves: Any) -> None:
    settings = load_settings(_env_file=None, STRIPE_SECRET_KEY=key)
    advance(settings, sessions, StripeGateway(key), user_id=user_id, **moves)


def test_who_cannot_travel(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(ClockRefused, match="live key"):
        travel(session_factory, LIVE_SHAPED_KEY, "u1", by=86400)
    with pytest.raises(ClockRefused, match="no customer yet"):
        travel(session_factory, "sk_test_0123456789abcdef", "u1", by=86400)
    with session_factory() as session:
        customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email="u1@example.com")
        session.commit()
    with pytest.raises(ClockRefused, match="no test clock"):
        travel(session_factory, "sk_test_0123456789abcdef", "u1", by=86400)


def test_the_command_refuses_a_live_key_and_a_missing_span() -> None:
    runner = CliRunner()
    live = runner.invoke(
        main,
        ["clock", "advance", "--user", "u1", "--by", "31d"],
        env={"STRIPE_SECRET_KEY": LIVE_SHAPED_KEY, "PAYWIRE_DEV": "false"},
    )
    assert live.exit_code != 0 and "test mode only" in live.output
    neither = runner.invoke(
        main, ["clock", "advance", "--user", "u1"], env={"STRIPE_SECRET_KEY": "sk_test_0123456789ab"}
    )
    assert neither.exit_code == 2 and "either --by" in neither.output
