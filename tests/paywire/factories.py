"""Mirror rows in Stripe's shapes, for tests that need a user to have something."""

from __future__ import annotations

import itertools
import time
from typing import Any

from sqlalchemy.orm import Session

from paywire.db.models import Order, Subscription
from paywire.db.repositories import subscriptions
from paywire.mirror import read_version
from paywire.mirror import subscriptions as mirrored_subscriptions

_ids = itertools.count(1)


def stripe_subscription(
    *,
    customer: str = "cus_test",
    status: str = "active",
    lookup_key: str = "pro_month",
    quantity: int = 1,
    period_start: int | None = None,
    period_end: int | None = None,
    cancel_at_period_end: bool = False,
    trial_start: int | None = None,
) -> dict[str, Any]:
    n = next(_ids)
    start = period_start if period_start is not None else int(time.time()) - 86400
    end = period_end if period_end is not None else start + 30 * 86400
    return {
        "id": f"sub_test{n}",
        "object": "subscription",
        "customer": customer,
        "status": status,
        "created": start,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": end if cancel_at_period_end else None,
        "canceled_at": None,
        "ended_at": None,
        "trial_start": trial_start,
        "trial_end": None,
        "pause_collection": None,
        "latest_invoice": None,
        "schedule": None,
        "metadata": {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_test{n}",
                    "object": "subscription_item",
                    "quantity": quantity,
                    "current_period_start": start,
                    "current_period_end": end,
                    "price": {
                        "id": f"price_test{n}",
                        "lookup_key": lookup_key,
                        "product": "paywire_plan_pro",
                    },
                }
            ],
        },
    }


def mirror_subscription(
    session: Session, user_id: str, *, plan: str = "pro", interval: str = "month", **kwargs: Any
) -> Subscription:
    kwargs.setdefault("lookup_key", f"{plan}_{interval}")
    fresh = stripe_subscription(**kwargs)
    mirrored_subscriptions.write(session, fresh, user_id=user_id, plan=plan, interval=interval, version=read_version())
    session.commit()
    row = subscriptions.find(session, fresh["id"])
    assert row is not None
    return row


def paid_pass(session: Session, user_id: str, *, starts: int, ends: int, status: str = "fulfilled") -> Order:
    order = Order(
        user_id=user_id,
        stripe_customer_id="cus_test",
        checkout_session_id=f"cs_test{next(_ids)}",
        product="pass-3-months",
        grants_plan="basic",
        status=status,
        access_starts_at=starts,
        access_ends_at=ends,
    )
    session.add(order)
    session.commit()
    return order
