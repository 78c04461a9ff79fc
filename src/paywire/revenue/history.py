"""When and why a subscription's monthly value changed. Pure.

Two ways to tell, which agree on the same history:
- `effective_at`: the mirror has just written a new state of a subscription whose value
  differs from the ledger's; the state (and the one it replaced) say when the change took
  effect where Stripe records it (an end, a trial's end, a renewal, a discount's start), else
  it took effect now (an upgrade, a resumed subscription), in the customer's time.
- `history`: the ledger knows nothing of a subscription yet (paywire sees it for the first
  time, or `paywire sync` backfills it): its whole history is rebuilt from Stripe's objects,
  the subscription and its invoices. A renewal's lines say what was billed from the period
  start, an upgrade's proration lines what was billed from the change on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from paywire.revenue.mrr import (
    Item,
    after_discounts,
    counts,
    forever_discounts,
    price_item,
    round_half_up,
    subscription_items,
)
from paywire.stripe.ids import id_of

VOLUNTARY = "voluntary"
INVOLUNTARY = "involuntary"
ENDED_STATUSES = ("canceled", "incomplete_expired")
# `cancellation_details.reason` values that mean the customer did not choose to leave.
INVOLUNTARY_REASONS = ("payment_failed", "payment_disputed")
INVOICE_REASONS = ("subscription_create", "subscription_cycle", "subscription_update")
# A subscription in one of these has no history, whatever its invoices say: still in its
# trial, it has been worth nothing so far.
WITHOUT_HISTORY = ("trialing",)


@dataclass(frozen=True)
class Step:
    """The subscription is worth `value` a month from `at` (Stripe time) on, because of `cause`;
    `churn` says how access ended when the value fell to 0 that way."""

    at: int
    value: int
    cause: str
    churn: str | None = None


def churn_kind(subscription: dict[str, Any]) -> str | None:
    """Why a subscription stopped paying: involuntary when a payment failed (dunning ended in
    `unpaid`, or Stripe canceled it for a failed or disputed payment), voluntary when the
    customer (or an admin) canceled or paused it. None while it still pays."""
    status = subscription.get("status")
    if counts(subscription):
        return None
    if status == "unpaid":
        return INVOLUNTARY
    if status in ENDED_STATUSES:
        details = subscription.get("cancellation_details") or {}
        return INVOLUNTARY if details.get("reason") in INVOLUNTARY_REASONS else VOLUNTARY
    if status == "paused" or subscription.get("pause_collection"):
        return VOLUNTARY
    return None


def end_cause(subscription: dict[str, Any]) -> str:
    status = subscription.get("status")
    if status in ENDED_STATUSES:
        details = subscription.get("cancellation_details") or {}
        return "payment_failed" if details.get("reason") in INVOLUNTARY_REASONS else "canceled"
    if status == "unpaid":
        return "unpaid"
    if status == "paused" or subscription.get("pause_collection"):
        return "paused"
    return "trialing" if status == "trialing" else str(status)


def period_start(subscription: dict[str, Any]) -> int | None:
    starts = [
        int(i["current_period_start"])
        for i in (subscription.get("items") or {}).get("data") or []
        if i.get("current_period_start") is not None
    ]
    return min(starts) if starts else None


def started_at(subscription: dict[str, Any]) -> int:
    return int(subscription.get("start_date") or subscription.get("created") or 0)


def trial_end(subscription: dict[str, Any]) -> int | None:
    """When the subscription's trial ended (or ends); None if it never had one."""
    if not subscription.get("trial_start") or not subscription.get("trial_end"):
        return None
    return int(subscription["trial_end"])


def effective_at(previous: dict[str, Any] | None, fresh: dict[str, Any], now: Callable[[], int]) -> tuple[int, str]:
    """When the change from `previous` (the state the mirror held, if any) to `fresh` took
    effect, and its cause. `now`: the customer's time, asked only when nothing else tells."""
    if not counts(fresh):
        if fresh.get("status") in ENDED_STATUSES:
            return int(fresh.get("ended_at") or fresh.get("canceled_at") or now()), end_cause(fresh)
        return now(), end_cause(fresh)
    if previous is None or not counts(previous):
        before = previous.get("status") if previous else None
        ended_trial = trial_end(fresh)
        if before in (None, "trialing") and ended_trial is not None and ended_trial >= started_at(fresh):
            return ended_trial, "trial_converted"
        if before in (None, "incomplete"):
            return started_at(fresh), "started"
        return now(), "resumed"
    renewed = period_start(fresh)
    if renewed is not None and renewed != period_start(previous):
        # The change came with the renewal (a downgrade or seat change waiting for the period end).
        return renewed, "renewal_change"
    seen = {id_of(d) for d in forever_discounts(previous)}
    added = [d for d in forever_discounts(fresh) if id_of(d) not in seen and d.get("start")]
    if added:
        return max(int(d["start"]) for d in added), "discount"
    return now(), "plan_changed"


def history(
    subscription: dict[str, Any], invoices: Iterable[dict[str, Any]], prices: Mapping[str, dict[str, Any]]
) -> list[Step]:
    """Every change of the subscription's monthly value, oldest first, rebuilt from its
    Stripe object and its invoices (see the module docstring). `prices`: Stripe prices by id,
    for invoice lines naming a price the subscription no longer has.

    What invoices cannot show is taken from the subscription: items changed without
    prorations appear at the renewal that billed them; a forever discount counts from its
    `start` (one removed since is not known); an `unpaid` or paused subscription counts 0
    from its current period's start."""
    if subscription.get("status") in WITHOUT_HISTORY:
        return []
    known = dict(prices)
    for item in (subscription.get("items") or {}).get("data") or []:
        price = item.get("price")
        if isinstance(price, dict) and price.get("id"):
            known.setdefault(price["id"], price)
    fallback = subscription_items(subscription)
    configs = _configurations(subscription, invoices, known, fallback[0] if fallback else None)
    start = started_at(subscription)
    if not configs:
        configs = [(start, fallback)]
    ended = trial = stopped = None
    if subscription.get("status") in ENDED_STATUSES:
        ended = int(subscription.get("ended_at") or subscription.get("canceled_at") or start)
    elif not counts(subscription):
        stopped = period_start(subscription) or start
    trial = trial_end(subscription)
    discounts = forever_discounts(subscription)
    moments = {start, *(at for at, _ in configs), *(int(d.get("start") or start) for d in discounts)}
    moments |= {m for m in (ended, trial, stopped) if m is not None}
    steps: list[Step] = []
    value = 0
    for moment in sorted(m for m in moments if m >= start):
        worth = _worth_at(moment, configs, discounts, start=start, trial=trial, ended=ended, stopped=stopped)
        if worth == value:
            continue
        if (ended is not None and moment >= ended) or (stopped is not None and moment >= stopped):
            steps.append(Step(moment, 0, end_cause(subscription), churn_kind(subscription)))
        else:
            steps.append(Step(moment, worth, _cause(moment, value, start=start, trial=trial, configs=configs)))
        value = worth
    return steps


def _cause(moment: int, before: int, *, start: int, trial: int | None, configs: list[tuple[int, list[Item]]]) -> str:
    if before == 0:
        return "trial_converted" if trial is not None and moment == trial else "started"
    return "plan_changed" if any(at == moment for at, _ in configs) else "discount"


def _worth_at(
    moment: int,
    configs: list[tuple[int, list[Item]]],
    discounts: list[dict[str, Any]],
    *,
    start: int,
    trial: int | None,
    ended: int | None,
    stopped: int | None,
) -> int:
    if moment < start or (trial is not None and moment < trial):
        return 0
    if (ended is not None and moment >= ended) or (stopped is not None and moment >= stopped):
        return 0
    current = [items for at, items in configs if at <= moment]
    items = current[-1] if current else configs[0][1]
    active = [d for d in discounts if int(d.get("start") or start) <= moment]
    return round_half_up(after_discounts(items, active))


def _configurations(
    subscription: dict[str, Any],
    invoices: Iterable[dict[str, Any]],
    prices: Mapping[str, dict[str, Any]],
    template: Item | None,
) -> list[tuple[int, list[Item]]]:
    """What the subscription billed from when: each renewal's (and the first invoice's)
    licensed lines from their period start; each paid upgrade's positive proration lines
    from the change (one item per subscription, as paywire makes them)."""
    found: list[tuple[int, list[Item]]] = []
    ordered = sorted(
        (i for i in invoices if i.get("billing_reason") in INVOICE_REASONS),
        key=lambda i: (int(i.get("created") or 0), str(i.get("id"))),
    )
    for invoice in ordered:
        status = invoice.get("status")
        reason = invoice.get("billing_reason")
        if status in ("draft", "void") or (reason == "subscription_update" and status != "paid"):
            continue
        lines = (invoice.get("lines") or {}).get("data") or []
        if reason == "subscription_update":
            chosen = [line for line in lines if _proration(line) and int(line.get("amount") or 0) > 0]
        else:
            chosen = [line for line in lines if not _proration(line)]
        items = [made for line in chosen if (made := _line_item(line, prices, template)) is not None]
        if not items:
            continue
        at = min(int((line.get("period") or {}).get("start") or invoice.get("created") or 0) for line in chosen)
        found.append((at, items))
    found.sort(key=lambda pair: pair[0])
    return found


def _proration(line: dict[str, Any]) -> bool:
    parent = line.get("parent") or {}
    for key in ("subscription_item_details", "invoice_item_details"):
        details = parent.get(key)
        if isinstance(details, dict) and details.get("proration"):
            return True
    return bool(line.get("proration"))


def _line_item(line: dict[str, Any], prices: Mapping[str, dict[str, Any]], template: Item | None) -> Item | None:
    """The item an invoice line bills: from its price when known, else from the line itself
    (its unit amount, and the interval its period spans, or the subscription's)."""
    pricing = line.get("pricing") or {}
    price_id = id_of((pricing.get("price_details") or {}).get("price")) or id_of(line.get("price"))
    quantity = line.get("quantity")
    if price_id and price_id in prices:
        return price_item(prices[price_id], quantity, price_id=price_id)
    amount = pricing.get("unit_amount_decimal")
    if amount in (None, "") or template is None:
        return None
    interval, count = template.interval, template.interval_count
    if not _proration(line):
        period = line.get("period") or {}
        interval, count = _interval_of(int(period.get("start") or 0), int(period.get("end") or 0), template)
    return Item(
        price_id=price_id,
        product_id=id_of((pricing.get("price_details") or {}).get("product")),
        unit_amount=Fraction(str(amount)),
        quantity=int(quantity or 1),
        interval=interval,
        interval_count=count,
        currency=line.get("currency"),
    )


def _interval_of(start: int, end: int, template: Item) -> tuple[str, int]:
    days = (end - start) / 86_400
    if 27 <= days <= 31:
        return "month", 1
    if 364 <= days <= 366:
        return "year", 1
    if 6.5 <= days <= 7.5:
        return "week", 1
    return template.interval, template.interval_count
