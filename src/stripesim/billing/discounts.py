"""Discounts: the `discount` objects a redemption creates, and what a discount takes off an
amount.

A discount keeps a private copy of its coupon's terms (`_coupon`) so it keeps working after
the coupon is deleted, as on Stripe. Whether a coupon may be redeemed at all is decided
first, in `redemption`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripesim.billing.periods import add_months
from stripesim.billing.redemption import resolve_discounts
from stripesim.errors import no_such
from stripesim.ids import new_id
from stripesim.shapes import blank
from stripesim.state import Record, State
from stripesim.wire import Params

_TERMS = (
    "id",
    "percent_off",
    "amount_off",
    "currency",
    "duration",
    "duration_in_months",
    "_applies_to",
    "_currency_options",
)


def redeem(
    state: State, specs: list[Params], *, customer: Record, product_ids: list[str], subscription: str | None
) -> list[str]:
    """The discounts `discounts[i]` names for a subscription, created now; returns their ids."""
    if not specs:
        return []
    resolved = resolve_discounts(
        state, specs, customer=customer, amount_subtotal=None, product_ids=product_ids, param="discounts"
    )
    now = state.now_for(customer)
    return [
        create_discount(
            state,
            spec,
            customer=customer["id"],
            subscription=subscription,
            invoice=None,
            checkout_session=None,
            start=now,
        )["id"]
        for spec in resolved
    ]


def create_discount(
    state: State,
    spec: dict[str, Any],
    *,
    customer: str | None,
    subscription: str | None,
    invoice: str | None,
    checkout_session: str | None,
    start: int,
) -> Record:
    """Create and store the `discount` for a resolved spec, redeeming its coupon and code.

    A spec naming an existing discount returns that discount unchanged.
    """
    reused = _reused(state, spec)
    if reused is not None:
        return reused
    record = build_discount(
        state,
        spec,
        customer=customer,
        subscription=subscription,
        invoice=invoice,
        checkout_session=checkout_session,
        start=start,
    )
    state.insert(record)
    coupon = state.get(spec["coupon"], "coupon")
    _redeem(state, coupon, spec.get("promotion_code"))
    # Stripe announces discounts on customers and subscriptions, not on one-off invoices.
    if customer is not None and invoice is None and checkout_session is None:
        state.emit("customer.discount.created", record)
    return record


def build_discount(
    state: State,
    spec: dict[str, Any],
    *,
    customer: str | None,
    subscription: str | None,
    invoice: str | None,
    checkout_session: str | None,
    start: int,
) -> Record:
    """The `discount` a resolved spec would create, without storing or redeeming anything
    (previews use it)."""
    reused = _reused(state, spec)
    if reused is not None:
        return reused
    coupon = state.find(spec["coupon"], "coupon")
    if coupon is None:
        raise no_such("coupon", spec["coupon"], "discounts")
    record = blank("discount")
    record.update(
        id=new_id("di"),
        object="discount",
        checkout_session=checkout_session,
        customer=customer,
        customer_account=None,
        invoice=invoice,
        invoice_item=None,
        promotion_code=spec.get("promotion_code"),
        subscription=subscription,
        subscription_item=None,
        start=start,
        source={"coupon": coupon["id"], "type": "coupon"},
        end=None,
    )
    if coupon["duration"] == "repeating":
        record["end"] = add_months(start, int(coupon["duration_in_months"]))
    record["_coupon"] = {k: coupon.get(k) for k in _TERMS}
    record["_used_invoices"] = []
    return record


def _reused(state: State, spec: dict[str, Any]) -> Record | None:
    """The existing discount a spec names (`discounts[i][discount]`), if it still exists."""
    return state.find(spec["discount"], "discount") if spec.get("discount") else None


def _redeem(state: State, coupon: Record, promo_id: str | None) -> None:
    with state.changing(coupon):
        coupon["times_redeemed"] += 1
        limit = coupon["max_redemptions"]
        if limit is not None and coupon["times_redeemed"] >= limit:
            coupon["valid"] = False
    promo = state.find(promo_id, "promotion_code") if promo_id else None
    if promo is not None:
        with state.changing(promo):
            promo["times_redeemed"] += 1


def remove_discount(state: State, discount: Record) -> Record:
    """Delete a discount (a customer's or subscription's); returns Stripe's deleted shape."""
    shown = render_discount(state, discount)
    discount["deleted"] = True
    if discount.get("customer") is not None and discount.get("invoice") is None:
        state.emit("customer.discount.deleted", discount, snapshot=dict(shown))
    # The deleted shape has no `end` (the discount is over).
    return {**{k: v for k, v in shown.items() if k != "end"}, "deleted": True}


def render_discount(state: State, discount: Record | str) -> Record:
    """A discount as embedded in another object (e.g. `customer.discount`)."""
    record = state.find(discount, "discount") if isinstance(discount, str) else discount
    if record is None:
        raise no_such("discount", str(discount), "discount")
    return state.snapshot({k: v for k, v in record.items() if k != "deleted"})


def rendered_coupon(state: State, coupon_id: str) -> Record:
    """The coupon as the API shows it (for `expand[]=source.coupon` and embedding)."""
    coupon = state.find(coupon_id, "coupon")
    if coupon is None:
        raise no_such("coupon", coupon_id, "coupon")
    return state.snapshot(coupon)


def mark_used(discount: Record, invoice_id: str) -> None:
    """Record that `discount` was applied on an invoice (a `once` coupon then stops)."""
    used = discount.setdefault("_used_invoices", [])
    if invoice_id not in used:
        used.append(invoice_id)


def is_active(discount: Record, at: int, *, invoice: str | None = None) -> bool:
    """Whether the discount still applies at time `at` (to `invoice`, if given)."""
    if discount.get("deleted"):
        return False
    if discount.get("end") is not None and at >= discount["end"]:
        return False
    if at < discount["start"]:
        return False
    terms = discount["_coupon"]
    used = discount.get("_used_invoices") or []
    return not (terms["duration"] == "once" and used and invoice not in used)


def discount_amount(
    state: State,
    discount: Record,
    amount: int,
    *,
    at: int,
    product_id: str | None = None,
    currency: str | None = None,
    invoice: str | None = None,
) -> int:
    """What `discount` takes off `amount` (smallest currency unit) at time `at`.

    percent_off rounds half away from zero to the unit; amount_off never exceeds `amount`.
    Given a `product_id`, a coupon restricted with applies_to takes nothing off a product it
    does not name; without one, `amount` is taken to be the eligible base already (see
    `applies_to_products`). `invoice` lets a `once` discount recompute the invoice it was
    used on.
    """
    if not is_active(discount, at, invoice=invoice):
        return 0
    terms = discount["_coupon"]
    applies = applies_to_products(discount)
    if applies is not None and product_id is not None and product_id not in applies:
        return 0
    if terms["percent_off"] is not None:
        off = Decimal(amount) * Decimal(str(terms["percent_off"])) / 100
        return int(off.to_integral_value(rounding=ROUND_HALF_UP))
    if amount <= 0:
        return 0
    amount_off = terms["amount_off"]
    if currency is not None and currency.lower() != terms["currency"]:
        option = (terms.get("_currency_options") or {}).get(currency.lower())
        if option is None:
            return 0
        amount_off = option["amount_off"]
    return min(int(amount_off), amount)


def applies_to_products(discount: Record) -> list[str] | None:
    """The products a discount is restricted to (coupon `applies_to`), or None for all.

    `applies_to` is includable on the coupon, so it is kept privately; read it here.
    """
    applies = discount["_coupon"].get("_applies_to")
    return list(applies["products"]) if applies else None


def split_amount(total: int, weights: list[int]) -> list[int]:
    """Spread `total` over lines in proportion to `weights`, summing exactly to `total`.

    Stripe spreads an invoice-level amount_off over the discountable lines this way.
    """
    base = sum(w for w in weights if w > 0)
    if base <= 0:
        return [0] * len(weights)
    shares = [total * max(w, 0) // base for w in weights]
    remainder = total - sum(shares)
    # The largest lines absorb the rounding remainder, one unit each.
    order = sorted(range(len(weights)), key=lambda i: -weights[i])
    for i in order[:remainder]:
        shares[i] += 1
    return shares
