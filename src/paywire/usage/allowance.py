"""How much of their allowance a user has used this period, what the usage beyond it costs,
and the limits that follow: a hard limit refuses more (`require_usage` answers 429), a soft one
tells the subscriber at 80 % and 100 %, once per period each, through the outbox.

"This period" is the metered item's current billing period, in the customer's time; usage is
read from the local table (what will be billed: recorded, neither cancelled nor refused).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from paywire.catalog import Catalog, Meter, Usage
from paywire.outbox import Fact
from paywire.usage import store
from paywire.usage.accounts import MeteredItem, UsageAccount

THRESHOLDS = (80, 100)  # per cent of the allowance a soft limit's subscriber is told about


@dataclass(frozen=True)
class MeterUsage:
    """One meter's usage this period, as `GET /api/billing` shows it."""

    meter: str  # event name
    name: str
    used: int
    included: int
    limit: str  # soft | hard
    unit_amount_decimal: str  # cents per unit beyond what is included
    currency: str
    period_start: int
    period_end: int
    pending: int  # recorded, not yet sent to Stripe
    refused: int  # events Stripe refused (not billed)
    charge: int  # what the usage costs so far, in cents (the metered price's tiers)

    @property
    def beyond(self) -> int:
        return max(0, self.used - self.included)

    @property
    def percent(self) -> float:
        return round(100 * self.used / self.included, 1) if self.included else 0.0

    @property
    def spent(self) -> bool:
        """The allowance is used up (a hard limit refuses more)."""
        return self.included > 0 and self.used >= self.included

    def as_dict(self) -> dict[str, Any]:
        return {
            "meter": self.meter,
            "name": self.name,
            "used": self.used,
            "included": self.included,
            "beyond": self.beyond,
            "percent": self.percent,
            "limit": self.limit,
            "unit_amount_decimal": self.unit_amount_decimal,
            "currency": self.currency,
            "charge": self.charge,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "pending": self.pending,
            "refused": self.refused,
        }


def priced(catalog: Catalog, item: MeteredItem) -> tuple[Meter, Usage] | None:
    """The meter and the plan's usage terms of a metered item (None: the plan no longer
    meters it)."""
    plan = catalog.plan(item.plan or "")
    usage = plan.usage.get(item.meter) if plan is not None else None
    return (catalog.meters[item.meter], usage) if usage is not None else None


def charge_for(usage: Usage, interval: str, used: int) -> int:
    """What `used` units cost by the plan's metered price (per tier, each rounded as Stripe's
    invoice lines are)."""
    tiers = usage.price_tiers(interval)
    if not tiers:
        return _cents(usage.unit_price * used)
    total, below = 0, 0
    for tier in tiers:
        upper = tier.up_to if tier.up_to is not None else max(used, below)
        units = max(0, min(used, upper) - below)
        total += _cents(Decimal(tier.unit_amount_decimal) * units)
        below = upper
        if used <= below:
            break
    return total


def _cents(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


def meter_usage(session: Session, catalog: Catalog, account: UsageAccount, item: MeteredItem) -> MeterUsage | None:
    found = priced(catalog, item)
    if found is None:
        return None
    meter, usage = found
    interval = item.interval or "month"
    totals = store.totals(
        session, account.user_id, item.event_name, item.period_start, item.period_end, formula=meter.formula
    )
    return MeterUsage(
        meter=item.event_name,
        name=meter.name,
        used=totals.used,
        included=usage.included_for(interval),
        limit=usage.limit,
        unit_amount_decimal=f"{usage.unit_price.normalize():f}",
        currency=catalog.currency,
        period_start=item.period_start,
        period_end=item.period_end,
        pending=totals.pending,
        refused=totals.refused,
        charge=charge_for(usage, interval, totals.used),
    )


def usage_of(session: Session, catalog: Catalog, account: UsageAccount) -> list[MeterUsage]:
    """Every meter the user's plan bills, with this period's usage."""
    found = [meter_usage(session, catalog, account, item) for item in account.items.values()]
    return [u for u in found if u is not None]


def threshold_facts(account: UsageAccount, usage: MeterUsage, item: MeteredItem) -> list[Fact]:
    """The notices a soft limit's subscriber is owed for this period (each once: the key
    names the user, meter, period and threshold)."""
    if usage.limit != "soft" or not usage.included:
        return []
    facts = []
    for threshold in THRESHOLDS:
        if usage.used * 100 >= usage.included * threshold:
            facts.append(
                Fact(
                    kind="usage_threshold",
                    key=f"usage_threshold:{account.user_id}:{usage.meter}:{usage.period_start}:{threshold}",
                    user_id=account.user_id,
                    subject_id=item.subscription_id,
                    payload={
                        "threshold": threshold,
                        "meter": usage.meter,
                        "meter_name": usage.name,
                        "used": usage.used,
                        "included": usage.included,
                        "unit_amount_decimal": usage.unit_amount_decimal,
                        "currency": usage.currency,
                        "period_end": usage.period_end,
                        "plan": item.plan,
                        "subscription_id": item.subscription_id,
                    },
                )
            )
    return facts


class UsageLimitReached(Exception):
    """The period's allowance of a meter with a hard limit is spent."""

    def __init__(self, usage: MeterUsage, now: int) -> None:
        super().__init__(f"{usage.name}: {usage.used} of {usage.included} used")
        self.usage = usage
        self.retry_after = max(1, usage.period_end - now)


class UsageNotIncluded(Exception):
    """The user's plan does not bill (nor allow) this meter."""

    def __init__(self, meter: str) -> None:
        super().__init__(meter)
        self.meter = meter


class AllowanceCache:
    """Each process's recent answers to "how much is used?", for `require_usage` on every
    request: kept at most `max_age` seconds, and dropped for a user as soon as this process
    records usage for them."""

    def __init__(self, max_age: float = 1.0) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str, int, int], tuple[float, MeterUsage]] = {}

    def get(self, key: tuple[str, str, int, int]) -> MeterUsage | None:
        with self._lock:
            found = self._kept.get(key)
        if found is None or time.monotonic() - found[0] > self.max_age:
            return None
        return found[1]

    def put(self, key: tuple[str, str, int, int], usage: MeterUsage) -> None:
        with self._lock:
            if len(self._kept) > 100_000:
                self._kept.clear()
            self._kept[key] = (time.monotonic(), usage)

    def forget_users(self, user_ids: set[str]) -> None:
        with self._lock:
            for key in [k for k in self._kept if k[0] in user_ids]:
                del self._kept[key]


def check_allowance(
    session: Session, catalog: Catalog, account: UsageAccount, event_name: str, cache: AllowanceCache | None = None
) -> MeterUsage:
    """The meter's usage this period; `UsageNotIncluded` when the plan does not bill it,
    `UsageLimitReached` when a hard limit's allowance is spent."""
    item = account.item_for(event_name)
    if item is None:
        raise UsageNotIncluded(event_name)
    key = (account.user_id, event_name, item.period_start, item.period_end)
    usage = cache.get(key) if cache is not None else None
    if usage is None:
        usage = meter_usage(session, catalog, account, item)
        if usage is None:
            raise UsageNotIncluded(event_name)
        if cache is not None:
            cache.put(key, usage)
    if usage.limit == "hard" and usage.spent:
        raise UsageLimitReached(usage, account.now())
    return usage
