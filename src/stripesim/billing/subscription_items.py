"""A subscription's items: reading them and their billing period, building them, what they
bill for a period, and how a subscription shows them.

Periods live on the items (`current_period_start/end`), as in the pinned API; all items of
a subscription share one billing cycle here, kept privately on the subscription too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from stripesim.billing.invoice_drafts import add_line
from stripesim.billing.meters import usage_for
from stripesim.billing.pricing import amount_for, round_half_up
from stripesim.errors import InvalidRequest
from stripesim.shapes import new_record
from stripesim.state import Record, State, renderer


@dataclass
class ItemSpec:
    price: Record
    quantity: int | None
    metadata: dict[str, str] = field(default_factory=dict)
    item_id: str | None = None  # an existing item being changed


def items_of(state: State, sub: Record) -> list[Record]:
    return [state.objects[i] for i in sub["_items"] if i in state.objects]


def period_of(sub: Record) -> tuple[int, int]:
    return sub["_period_start"], sub["_period_end"]


def set_period(state: State, sub: Record, start: int, end: int) -> None:
    """A new current period for the subscription and each of its items."""
    sub["_period_start"], sub["_period_end"] = start, end
    for item in items_of(state, sub):
        item["current_period_start"], item["current_period_end"] = start, end


def set_period_end(state: State, sub: Record, end: int) -> None:
    """The current period ends at another time (a trial made shorter or longer)."""
    sub["_period_end"] = end
    for item in items_of(state, sub):
        item["current_period_end"] = end


def is_metered(price: Record) -> bool:
    return bool(price.get("recurring") and price["recurring"].get("usage_type") == "metered")


def product_name(state: State, price: Record) -> str:
    product = state.find(price["product"], "product")
    return product["name"] if product else price["product"]


def line_description(state: State, price: Record, quantity: int | None) -> str:
    name = product_name(state, price)
    unit = price.get("unit_amount")
    interval = (price.get("recurring") or {}).get("interval", "")
    if unit is not None:
        return f"{quantity or 1} × {name} (at ${unit / 100:.2f} / {interval})"
    return f"{quantity or 1} × {name}"


Charge = tuple[Record, int | None, str | None]  # price, quantity, subscription item


def item_charges(state: State, sub: Record) -> list[Charge]:
    return [(state.get(i["price"], "price"), i["quantity"], i["id"]) for i in items_of(state, sub)]


def add_period_lines(
    state: State, invoice: Record, sub_id: str | None, charges: list[Charge], start: int, end: int
) -> None:
    """What the period [start, end) costs in advance: one line per licensed price."""
    for price, quantity, item_id in charges:
        if is_metered(price):
            continue
        add_line(
            state,
            invoice,
            amount=amount_for(price, quantity or 1),
            description=line_description(state, price, quantity),
            price=price,
            quantity=quantity,
            period_start=start,
            period_end=end,
            subscription=sub_id,
            subscription_item=item_id,
        )


def add_usage_lines(
    state: State,
    invoice: Record,
    sub_id: str | None,
    item_id: str | None,
    price: Record,
    customer_id: str,
    start: int,
    end: int,
) -> int:
    """Bill a metered price's usage over [start, end) (its meter's aggregation for the
    customer), in arrears: one line per tier used of a graduated price (as Stripe itemises
    them), else one line. Returns the usage billed."""
    quantity = int(usage_for(state, price["recurring"]["meter"], customer_id, start, end))
    for units, amount, description in usage_breakdown(state, price, quantity):
        add_line(
            state,
            invoice,
            amount=amount,
            description=description,
            price=price,
            quantity=units,
            period_start=start,
            period_end=end,
            subscription=sub_id,
            subscription_item=item_id,
        )
    return quantity


def usage_breakdown(state: State, price: Record, quantity: int) -> list[tuple[int, int, str]]:
    """(units, amount, description) per line for `quantity` units of a metered price."""
    name = product_name(state, price)
    interval = (price.get("recurring") or {}).get("interval", "")
    if price.get("billing_scheme") != "tiered" or price.get("tiers_mode") != "graduated":
        return [(quantity, amount_for(price, quantity), line_description(state, price, quantity))]
    lines = []
    below = 0
    for n, tier in enumerate(price.get("tiers") or [], start=1):
        upper = tier["up_to"] if tier["up_to"] is not None else max(quantity, below)
        units = max(0, min(quantity, upper) - below)
        if units or n == 1:
            unit = Decimal(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0)
            flat = int(tier.get("flat_amount") or 0) if units else 0
            amount = round_half_up(unit * units) + flat
            lines.append((units, amount, f"{units} × {name} (Tier {n} at {_dollars(unit)} / {interval})"))
        below = upper
        if quantity <= below:
            break
    return lines


def _dollars(cents: Decimal) -> str:
    dollars = (cents / 100).normalize()
    if dollars.as_tuple().exponent > -2:  # type: ignore[operator]
        dollars = dollars.quantize(Decimal("0.01"))
    return f"${dollars:f}"


def new_item(state: State, sub: Record, spec: ItemSpec, start: int, end: int) -> Record:
    item = new_record(
        "subscription_item",
        "si",
        created=start,
        billing_thresholds=None,
        current_period_end=end,
        current_period_start=start,
        discounts=[],
        price=spec.price["id"],
        quantity=None if is_metered(spec.price) else (spec.quantity or 1),
        subscription=sub["id"],
        tax_rates=[],
    )
    item["metadata"] = dict(spec.metadata)
    item.pop("plan", None)
    state.insert(item)
    return item


def validate_items(state: State, specs: list[ItemSpec], param: str = "items") -> None:
    if not specs:
        raise InvalidRequest("Missing required param: items.", param=param, code="parameter_missing")
    currencies = {s.price["currency"] for s in specs}
    intervals = {(s.price["recurring"] or {}).get("interval") for s in specs if s.price.get("recurring")}
    for i, s in enumerate(specs):
        if s.price.get("type") != "recurring":
            raise InvalidRequest(
                "The price specified is set to `type=one_time` but this field only accepts prices "
                "with `type=recurring`.",
                param=f"{param}[{i}][price]",
            )
        if not s.price.get("active"):
            raise InvalidRequest(
                "The price specified is inactive. This field only accepts active prices.",
                param=f"{param}[{i}][price]",
            )
    if len(currencies) > 1:
        raise InvalidRequest("All prices on a subscription must have the same currency.", param=param)
    if len(intervals) > 1:
        raise InvalidRequest("Currently all items on a subscription must share the same billing interval.", param=param)


@renderer("subscription")
def render_subscription(state: State, sub: Record) -> Record:
    shown = dict(sub)
    shown["items"] = {
        "object": "list",
        "data": [render_item(state, state.objects[i]) for i in sub["_items"] if i in state.objects],
        "has_more": False,
        "url": f"/v1/subscription_items?subscription={sub['id']}",
    }
    pending = sub.get("pending_update")
    if pending and pending.get("subscription_items"):
        shown["pending_update"] = {
            **pending,
            "subscription_items": [render_item(state, item) for item in pending["subscription_items"]],
        }
    return shown


@renderer("subscription_item")
def render_item(state: State, item: Record) -> Record:
    shown = {k: v for k, v in item.items() if k[:1] != "_"}
    if shown.get("quantity") is None:
        shown.pop("quantity", None)  # a metered price has no quantity: Stripe leaves it out
    price = state.objects.get(item["price"])
    if price is not None:
        shown["price"] = dict(price)
        shown["plan"] = plan_of(price)
    return shown


def plan_of(price: Record) -> dict[str, Any]:
    """The legacy `plan` view of a recurring price, still embedded in subscription items."""
    recurring = price.get("recurring") or {}
    return {
        "active": price["active"],
        "amount": price.get("unit_amount"),
        "amount_decimal": price.get("unit_amount_decimal"),
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "id": price["id"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": price.get("metadata") or {},
        "meter": recurring.get("meter"),
        "nickname": price.get("nickname"),
        "object": "plan",
        "product": price["product"],
        "tiers_mode": price.get("tiers_mode"),
        "transform_usage": None,
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring.get("usage_type"),
    }
