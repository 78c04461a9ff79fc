"""Whether a coupon or promotion code may be redeemed now, by this customer, for this purchase,
and the `discounts[i]` a request names, checked before any discount is created.

Expiry is judged in the customer's clock time, so a test clock moves it.
"""

from __future__ import annotations

from typing import Any

from stripesim.errors import InvalidRequest, no_such
from stripesim.state import Record, State
from stripesim.wire import Params


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
                raise no_such("discount", value, where)
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
                raise no_such("promotion code", value, where)
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


def _coupon(state: State, coupon_id: str, param: str) -> Record:
    coupon = state.find(coupon_id, "coupon")
    if coupon is None or coupon.get("deleted"):
        raise no_such("coupon", coupon_id, param)
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
    return active_with_code(state, code.strip(), customer=customer)


def still_valid(state: State, coupon: Record) -> bool:
    """Whether a coupon can still be redeemed: not deleted, not past redeem_by, not used up."""
    if coupon.get("deleted") or not coupon.get("valid"):
        return False
    redeem_by = coupon.get("redeem_by")
    return not (redeem_by is not None and state.now() >= redeem_by)


def active_with_code(
    state: State, code: str, *, other_than: str | None = None, customer: str | None = None
) -> Record | None:
    """The active promotion code matching `code` (case-insensitively) for `customer`.

    Codes are unique per customer among active codes: the same text may be active once
    without a customer and once for each customer it is restricted to. With a customer, the
    code restricted to that customer wins over the unrestricted one.
    """
    folded = code.casefold()
    general = None
    for record in state.all("promotion_code"):
        if record["id"] == other_than or not record["active"] or record["code"].casefold() != folded:
            continue
        if record["customer"] == customer:
            return record
        if record["customer"] is None:
            general = general or record
    return general
