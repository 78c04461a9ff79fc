"""MRR movements: the ledger's changes of subscriptions' values, classified per customer. Pure.

The ledger records what each subscription is worth from when; a movement is what happened to
a *customer's* MRR (the sum over their subscriptions), as Stripe's glossary and ChartMogul
classify it:
- new: from 0 to more, for a customer who never paid before;
- reactivation: from 0 to more, for a customer who paid before and churned;
- expansion / contraction: up / down while above 0 (upgrade, more seats, yearly ↔ monthly,
  a forever discount);
- churn: down to 0, when access really ends (period end, end of dunning), voluntary or
  involuntary as the subscription's end says.

Classified when read, not when written: a backfill may add a customer's older subscription
after a newer one, and the order of writes must not change what a movement is. Changes of one
customer at the same second are netted (a switch from one subscription to another is one
expansion or contraction, not a churn and a reactivation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from paywire.revenue.history import INVOLUNTARY, VOLUNTARY

NEW = "new"
EXPANSION = "expansion"
CONTRACTION = "contraction"
CHURN = "churn"
REACTIVATION = "reactivation"
KINDS = (NEW, EXPANSION, CONTRACTION, CHURN, REACTIVATION)


@dataclass(frozen=True)
class Change:
    """One ledger row: a subscription of `customer` worth `after` a month from `at` (was `before`)."""

    at: int
    customer: str
    subscription: str
    before: int
    after: int
    cause: str = ""
    churn: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class Movement:
    at: int
    customer: str
    kind: str
    amount: int  # the customer's MRR after less before: negative for contraction and churn
    mrr_before: int
    mrr_after: int
    churn: str | None = None  # voluntary | involuntary, for churn
    user_id: str | None = None
    subscriptions: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()


@dataclass
class _Customer:
    subscriptions: dict[str, int] = field(default_factory=dict)
    paid_before: bool = False

    @property
    def total(self) -> int:
        return sum(self.subscriptions.values())


def classify(before: int, after: int, *, paid_before: bool) -> str | None:
    """The kind of a customer's MRR going from `before` to `after` (None: no movement)."""
    if after == before:
        return None
    if before == 0:
        return REACTIVATION if paid_before else NEW
    if after == 0:
        return CHURN
    return EXPANSION if after > before else CONTRACTION


def movements(changes: Iterable[Change]) -> list[Movement]:
    """Every movement of the changes (any order; sorted by time here), oldest first."""
    ordered = sorted(changes, key=lambda c: (c.at, c.customer, c.subscription))
    customers: dict[str, _Customer] = {}
    found: list[Movement] = []
    index = 0
    while index < len(ordered):
        first = ordered[index]
        same = [first]
        index += 1
        while index < len(ordered) and (ordered[index].at, ordered[index].customer) == (first.at, first.customer):
            same.append(ordered[index])
            index += 1
        customer = customers.setdefault(first.customer, _Customer())
        before = customer.total
        for change in same:
            customer.subscriptions[change.subscription] = change.after
        after = customer.total
        kind = classify(before, after, paid_before=customer.paid_before)
        if kind is not None:
            churn = None
            if kind == CHURN:
                churn = INVOLUNTARY if any(c.churn == INVOLUNTARY for c in same) else VOLUNTARY
            found.append(
                Movement(
                    at=first.at,
                    customer=first.customer,
                    kind=kind,
                    amount=after - before,
                    mrr_before=before,
                    mrr_after=after,
                    churn=churn,
                    user_id=next((c.user_id for c in same if c.user_id), None),
                    subscriptions=tuple(dict.fromkeys(c.subscription for c in same)),
                    causes=tuple(dict.fromkeys(c.cause for c in same if c.cause)),
                )
            )
        if after > 0:
            customer.paid_before = True
    return found


def mrr_at(changes: Iterable[Change], at: int) -> int:
    """The MRR at `at` (inclusive): every subscription's latest value by then, summed."""
    latest: dict[str, tuple[int, int]] = {}
    for change in changes:
        if change.at > at:
            continue
        kept = latest.get(change.subscription)
        if kept is None or change.at >= kept[0]:
            latest[change.subscription] = (change.at, change.after)
    return sum(value for _, value in latest.values())
