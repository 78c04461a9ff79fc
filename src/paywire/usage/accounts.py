"""Who may record usage on which meter: a user's usage account, read from the mirror.

A user records usage on a meter when they have a Stripe customer and a live subscription
(active, trialing, past due) with a metered item on that meter (a hybrid plan's). The account
holds what checking and showing usage needs: the customer, their time (a test clock's in test
mode) and each metered item with its current period.

Accounts are kept per process and per database, each with the user's entitlement version
(`paywire.billing.entitlement_cache`, which hears of every change of a user's subscriptions,
customer and test clock): a kept account is used while the user's version has not moved, so
recording an event usually costs no query; one whose version was checked within the cache's
own bound (PAYWIRE_ENTITLEMENT_MAX_STALENESS) is used without even that check (`peek`: the
event loop's fast path). A refusal is never decided from a kept account: it is read again
from the mirror first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from paywire.billing.entitlement_cache import snapshot_of
from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.repositories import customers, subscriptions, test_clocks

# Subscriptions whose metered items take usage: those whose subscriber may use the product.
USAGE_STATUSES = ("active", "trialing", "past_due")


@dataclass(frozen=True)
class MeteredItem:
    meter: str  # the catalog meter's key
    event_name: str
    subscription_id: str
    item_id: str
    plan: str | None
    interval: str | None
    period_start: int
    period_end: int


@dataclass(frozen=True)
class UsageAccount:
    user_id: str
    version: int
    customer_id: str | None
    clock_time: int | None  # the customer's test clock's frozen time (None: real time)
    items: dict[str, MeteredItem] = field(default_factory=dict)  # by event name

    def now(self) -> int:
        return self.clock_time if self.clock_time is not None else int(time.time())

    def item_for(self, event_name: str) -> MeteredItem | None:
        return self.items.get(event_name)


def read_account(session: Session, catalog: Catalog, user_id: str, version: int) -> UsageAccount:
    """The user's account, from the mirror as `session` sees it."""
    customer = customers.find_by_user(session, user_id)
    clock_time = None
    if customer is not None and customer.test_clock_id:
        clock = test_clocks.find(session, customer.test_clock_id)
        clock_time = clock.frozen_time if clock is not None else None
    by_product = {meter.product_id: meter for meter in catalog.meters.values()}
    items: dict[str, MeteredItem] = {}
    for row in subscriptions.for_user(session, user_id):  # newest first: the newest wins
        if row.status not in USAGE_STATUSES:
            continue
        for item in row.items:
            meter = by_product.get(item.product_id or "")
            if meter is None or meter.event in items:
                continue
            items[meter.event] = MeteredItem(
                meter=meter.key,
                event_name=meter.event,
                subscription_id=row.id,
                item_id=item.id,
                plan=row.plan,
                interval=row.interval,
                period_start=int(item.current_period_start or row.current_period_start or 0),
                period_end=int(item.current_period_end or row.current_period_end or 0),
            )
    return UsageAccount(
        user_id=user_id,
        version=version,
        customer_id=customer.stripe_customer_id if customer is not None else None,
        clock_time=clock_time,
        items=items,
    )


class UsageAccounts:
    """The accounts this process keeps for one database (least recently used leave first),
    each with when its version was last checked."""

    def __init__(self, catalog: Catalog, settings: Settings, size: int = 10_000) -> None:
        self.catalog = catalog
        self.settings = settings
        self.size = size
        # `peek` trusts an account checked this recently: the entitlement cache's own bound
        # (PAYWIRE_ENTITLEMENT_MAX_STALENESS; 0, no cache: never).
        self.recent = settings.entitlement_max_staleness
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, tuple[UsageAccount, float]] = OrderedDict()

    def account(self, session: Session, user_id: str, *, fresh: bool = False) -> UsageAccount:
        """The user's account: kept, unless their entitlement version moved (or `fresh`)."""
        version = snapshot_of(session, user_id, fresh=fresh, settings=self.settings).version
        if not fresh:
            with self._lock:
                kept = self._kept.get(user_id)
                if kept is not None and kept[0].version == version:
                    self._kept[user_id] = (kept[0], time.monotonic())
                    self._kept.move_to_end(user_id)
                    return kept[0]
        account = read_account(session, self.catalog, user_id, version)
        with self._lock:
            self._kept[user_id] = (account, time.monotonic())
            self._kept.move_to_end(user_id)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return account

    def peek(self, user_id: str) -> UsageAccount | None:
        """The kept account if its version was checked within the last `recent` seconds (as
        current as the entitlement cache promises), without touching the database; else None."""
        with self._lock:
            kept = self._kept.get(user_id)
        if kept is None or self.recent <= 0 or time.monotonic() - kept[1] > self.recent:
            return None
        return kept[0]

    def forget(self, user_id: str) -> None:
        """Drop the user's account (this process changed what it is made of)."""
        with self._lock:
            self._kept.pop(user_id, None)
