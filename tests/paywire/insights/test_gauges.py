"""The business gauges of /metrics, set from the ledger and the inbox: one MRR per currency
(amounts in different currencies are never added up)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from paywire.db.models import RevenueChange
from paywire.insights.gauges import set_gauges
from paywire.metrics import ACTIVE_SUBSCRIBERS, INBOX_DEAD, MRR

NOW = 1_800_000_000


def change(subscription: str, customer: str, after: int, currency: str, at: int = NOW - 100) -> RevenueChange:
    return RevenueChange(
        subscription_id=subscription,
        seq=1,
        stripe_customer_id=customer,
        occurred_at=at,
        mrr_before=0,
        mrr_after=after,
        currency=currency,
        cause="started",
        source="mirror",
    )


def test_one_mrr_per_currency_and_subscribers_over_all(session: Session) -> None:
    session.add_all(
        [
            change("sub_a", "cus_a", 1000, "usd"),
            change("sub_b", "cus_b", 833, "usd"),
            change("sub_c", "cus_c", 2500, "eur"),
            change("sub_later", "cus_d", 9999, "usd", at=NOW + 100),  # not yet
        ]
    )
    session.commit()

    set_gauges(session, NOW)

    assert MRR.labels(currency="usd")._value.get() == 18.33
    assert MRR.labels(currency="eur")._value.get() == 25.0
    assert ACTIVE_SUBSCRIBERS._value.get() == 3
    assert INBOX_DEAD._value.get() == 0
