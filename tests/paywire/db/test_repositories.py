from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paywire.db.models import WebhookEvent
from paywire.db.repositories import customers, orders


def test_one_customer_row_per_user_and_per_stripe_customer(session: Session) -> None:
    customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email="a@x.io")
    session.commit()
    with pytest.raises(IntegrityError):
        customers.add_customer(session, user_id="u1", stripe_customer_id="cus_2", email=None)
    session.rollback()
    with pytest.raises(IntegrityError):
        customers.add_customer(session, user_id="u2", stripe_customer_id="cus_1", email=None)
    session.rollback()
    assert customers.find_by_stripe_id(session, "cus_1").user_id == "u1"  # type: ignore[union-attr]


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    row = customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email=None)
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    customers.mark_trial_used(session, "u1", at)
    session.commit()
    session.expire_all()
    row = customers.find_by_user(session, "u1")
    assert row is not None and row.trial_used
    assert row.trial_used_at == at
    assert row.trial_used_at.tzinfo is not None
    assert row.created_at.tzinfo is not None


def test_trial_used_keeps_its_first_time(session: Session) -> None:
    customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email=None)
    first = datetime(2030, 1, 1, tzinfo=UTC)
    customers.mark_trial_used(session, "u1", first)
    customers.mark_trial_used(session, "u1", first + timedelta(days=9))
    session.commit()
    session.expire_all()
    assert customers.find_by_user(session, "u1").trial_used_at == first  # type: ignore[union-attr]


def test_naive_datetimes_are_refused(session: Session) -> None:
    customers.add_customer(session, user_id="u1", stripe_customer_id="cus_1", email=None)
    with pytest.raises(Exception, match="timezone-aware"):
        customers.mark_trial_used(session, "u1", datetime(2030, 1, 1))


def test_pending_order_is_recorded_once_per_checkout_session(session: Session) -> None:
    kwargs = dict(
        user_id="u1",
        stripe_customer_id="cus_1",
        checkout_session_id="cs_1",
        product="pass-3-months",
        grants_plan="basic",
    )
    first = orders.open_pending_order(session, **kwargs)  # type: ignore[arg-type]
    again = orders.open_pending_order(session, **kwargs)  # type: ignore[arg-type]
    assert first.id == again.id
    assert first.status == "pending"
    assert orders.paid_for_user(session, "u1") == []


def test_order_status_is_constrained(session: Session) -> None:
    order = orders.open_pending_order(
        session,
        user_id="u1",
        stripe_customer_id="cus_1",
        checkout_session_id="cs_1",
        product="pass-3-months",
        grants_plan="basic",
    )
    order.status = "shipped"
    with pytest.raises(IntegrityError):
        session.commit()


def test_inbox_state_is_constrained_and_id_unique(session: Session) -> None:
    session.add(WebhookEvent(id="evt_1", type="x", livemode=False, payload="{}"))
    session.commit()
    session.add(WebhookEvent(id="evt_1", type="x", livemode=False, payload="{}"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    session.add(WebhookEvent(id="evt_2", type="x", livemode=False, payload="{}", state="weird"))
    with pytest.raises(IntegrityError):
        session.commit()
