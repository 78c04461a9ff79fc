"""Discounts: validating `discounts[i][coupon|promotion_code]`, creating `discount` objects,
and what a discount takes off an amount.

The billing engine (subscriptions, invoices, checkout) calls these functions; nothing here
touches HTTP. A discount keeps a private copy of its coupon's terms (`_coupon`) so it keeps
working after the coupon is deleted, as on Stripe.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripesim.errors import InvalidRequest
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


# ----- validation ----------------------------------------------------------------------
def resolve_discounts(
    state: State,
    specs: list[Params],
    *,
    customer: Record | None,
    amount_subtotal: int | None,
    product_ids: list[str],
    param: str,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """Validate `discounts[i]` params; return discount specs for `create_discount`.

    Each spec is `{"coupon": id, "promotion_code": id | None, "discount": None}`, or
    `{"discount": id, ...}` when an existing discount is reused. `currency`, when known,
    makes amount_off coupons and minimum amounts check the purchase's currency.
    """
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        prefix = f"{param}[{i}]"
        spec.only("coupon", "promotion_code", "discount")
        given = [k for k in ("coupon", "promotion_code", "discount") if spec.str(k)]
        if len(given) != 1:
            raise InvalidRequest(
                "Each discount must set exactly one of coupon, promotion_code or discount.",
                param=prefix,
            )
        key = given[0]
        value = spec.str(key) or ""
        where = f"{prefix}[{key}]"
        if key == "discount":
            found = state.find(value, "discount")
            if found is None or found.get("deleted"):
                raise _missing("discount", value, where)
            resolved = {
                "coupon": found["source"]["coupon"],
                "promotion_code": found["promotion_code"],
                "discount": value,
            }
        elif key == "coupon":
            coupon = _coupon(state, value, where)
            check_coupon(state, coupon, product_ids=product_ids, currency=currency, param=where)
            resolved = {"coupon": coupon["id"], "promotion_code": None, "discount": None}
        else:
            promo = state.find(value, "promotion_code")
            if promo is None:
                raise _missing("promotion code", value, where)
            check_promotion_code(
                state,
                promo,
                customer=customer,
                amount_subtotal=amount_subtotal,
                product_ids=product_ids,
                param=where,
                currency=currency,
            )
            resolved = {"coupon": promo["promotion"]["coupon"], "promotion_code": promo["id"], "discount": None}
        if resolved["coupon"] in seen:
            raise InvalidRequest(f"The coupon {resolved['coupon']} is applied more than once.", param=where)
        seen.add(resolved["coupon"])
        out.append(resolved)
    return out


def _missing(kind: str, ident: str, param: str) -> InvalidRequest:
    # A missing object named in a parameter is a 400 on Stripe, not a 404.
    return InvalidRequest(f"No such {kind}: '{ident}'", param=param, code="resource_missing")


def _coupon(state: State, coupon_id: str, param: str) -> Record:
    coupon = state.find(coupon_id, "coupon")
    if coupon is None or coupon.get("deleted"):
        raise _missing("coupon", coupon_id, param)
    return coupon


def check_coupon(
    state: State,
    coupon: Record,
    *,
    product_ids: list[str],
    currency: str | None = None,
    param: str,
) -> None:
    """Raise if `coupon` cannot be redeemed now for these products and currency."""
    from stripesim.resources.coupons import still_valid

    if not still_valid(state, coupon):
        raise InvalidRequest(
            f"Coupon expired: {coupon['id']}. It is past its redeem_by date or has reached its max_redemptions.",
            param=param,
            code="coupon_expired",
        )
    applies = coupon.get("_applies_to")
    if applies and product_ids and not set(applies["products"]) & set(product_ids):
        raise InvalidRequest(
            f"The coupon {coupon['id']} applies only to products "
            f"{', '.join(applies['products'])}, none of which is being purchased.",
            param=param,
        )
    if coupon.get("amount_off") is not None and currency:
        options = coupon.get("_currency_options") or {}
        if currency.lower() != coupon["currency"] and currency.lower() not in options:
            raise InvalidRequest(
                f"The coupon {coupon['id']} is for {coupon['currency']} and cannot be applied "
                f"to a purchase in {currency.lower()}.",
                param=param,
            )


def check_promotion_code(
    state: State,
    promo: Record,
    *,
    customer: Record | None,
    amount_subtotal: int | None,
    product_ids: list[str],
    param: str,
    currency: str | None = None,
) -> None:
    """Raise if promotion code `promo` cannot be redeemed by `customer` for this purchase.

    Expiry is judged in the customer's clock time (a test clock moves it).
    """
    code = promo["code"]
    if not promo["active"]:
        raise InvalidRequest(f"The promotion code {code} is not active.", param=param)
    now = state.now_for(customer) if customer is not None else state.now()
    if promo["expires_at"] is not None and now >= promo["expires_at"]:
        raise InvalidRequest(f"The promotion code {code} has expired.", param=param)
    if promo["max_redemptions"] is not None and promo["times_redeemed"] >= promo["max_redemptions"]:
        raise InvalidRequest(
            f"The promotion code {code} has reached its maximum number of redemptions.",
            param=param,
        )
    if promo["customer"] is not None and (customer is None or customer["id"] != promo["customer"]):
        raise InvalidRequest(
            f"The promotion code {code} cannot be redeemed by this customer: it is restricted to another customer.",
            param=param,
        )
    restrictions = promo["restrictions"]
    if restrictions["first_time_transaction"] and customer is not None and has_transacted(state, customer["id"]):
        raise InvalidRequest(
            f"The promotion code {code} cannot be redeemed because the customer has prior transactions.",
            param=param,
        )
    minimum = _minimum(restrictions, currency)
    if minimum is not None and amount_subtotal is not None and amount_subtotal < minimum[0]:
        raise InvalidRequest(
            f"The promotion code {code} requires a minimum amount of {minimum[0]} "
            f"{minimum[1]}; this purchase is {amount_subtotal}.",
            param=param,
        )
    coupon = state.find(promo["promotion"]["coupon"], "coupon")
    if coupon is None or coupon.get("deleted"):
        raise InvalidRequest(
            f"The promotion code {code}'s coupon no longer exists.",
            param=param,
            code="coupon_expired",
        )
    check_coupon(state, coupon, product_ids=product_ids, currency=currency, param=param)


def _minimum(restrictions: Record, currency: str | None) -> tuple[int, str | None] | None:
    """The minimum amount that applies to a purchase in `currency` (None: no minimum)."""
    base = restrictions.get("minimum_amount")
    base_currency = restrictions.get("minimum_amount_currency")
    if base is None:
        return None
    if currency is None or currency.lower() == base_currency:
        return base, base_currency
    options = restrictions.get("currency_options") or {}
    if currency.lower() in options:
        return options[currency.lower()]["minimum_amount"], currency.lower()
    # A minimum set only in another currency cannot be met in this one.
    return 2**62, base_currency


def has_transacted(state: State, customer_id: str) -> bool:
    """Whether a customer has paid an invoice or had a charge succeed."""
    return bool(
        state.where("invoice", customer=customer_id, status="paid")
        or state.where("charge", customer=customer_id, status="succeeded")
    )


def find_promotion_code(state: State, code: str, *, customer: str | None = None) -> Record | None:
    """The active promotion code a customer typed, matched case-insensitively as Stripe does.

    Given the paying customer's id, a code restricted to that customer is preferred over an
    unrestricted code with the same text (codes are unique per customer).
    """
    from stripesim.resources.promotion_codes import active_with_code

    return active_with_code(state, code.strip(), customer=customer)


# ----- discount objects ----------------------------------------------------------------
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
    if spec.get("discount"):
        existing = state.find(spec["discount"], "discount")
        if existing is not None:
            return existing
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
    if spec.get("discount"):
        existing = state.find(spec["discount"], "discount")
        if existing is not None:
            return existing
    coupon = state.find(spec["coupon"], "coupon")
    if coupon is None:
        raise _missing("coupon", spec["coupon"], "discounts")
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
    return {**shown, "deleted": True}


def render_discount(state: State, discount: Record | str) -> Record:
    """A discount as embedded in another object (e.g. `customer.discount`)."""
    record = state.find(discount, "discount") if isinstance(discount, str) else discount
    if record is None:
        raise _missing("discount", str(discount), "discount")
    return state.snapshot({k: v for k, v in record.items() if k != "deleted"})


def rendered_coupon(state: State, coupon_id: str) -> Record:
    """The coupon as the API shows it (for `expand[]=source.coupon` and embedding)."""
    coupon = state.find(coupon_id, "coupon")
    if coupon is None:
        raise _missing("coupon", coupon_id, "coupon")
    return state.snapshot(coupon)


# ----- amounts -------------------------------------------------------------------------
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


def add_months(ts: int, months: int) -> int:
    """`ts` plus calendar months, the day clamped to the target month's length."""
    moment = datetime.fromtimestamp(ts, UTC)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())
