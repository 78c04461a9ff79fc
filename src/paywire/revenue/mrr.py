"""A subscription's monthly recurring revenue (MRR), from its Stripe object. Pure.

The definitions, as Stripe's billing analytics glossary and ChartMogul have them:
- an item is worth `unit amount * quantity` per billing interval, normalised to a month
  (a year ÷ 12, a week * 52 ÷ 12, a day * 365 ÷ 12, an interval count divides);
- a *forever* discount is deducted (a percentage of the items it applies to, or an amount
  per invoice normalised like the items); a discount that ends (`once`, `repeating`) is not:
  it lowers what is billed for a while, not what the subscription is worth;
- tax is not revenue (prices are taken before tax; an `inclusive` price is counted whole,
  since the rate is not on the price), metered usage is not recurring, a trial is worth 0;
- only a subscription the customer still has and pays counts: `active` and `past_due`
  (payment failing, access kept until dunning ends). `trialing`, `incomplete`, `paused`
  (or `pause_collection`), `unpaid`, `canceled` and `incomplete_expired` are worth 0.

Amounts are exact fractions of the currency's smallest unit until the end, where a
subscription's value is rounded to a whole unit (half up): the sum of rounded subscriptions is
what every report adds, so figures add up exactly (a 100.00/year plan is 8.33 a month).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from paywire.stripe.ids import id_of

COUNTED_STATUSES = ("active", "past_due")
MONTHS_PER_INTERVAL = {
    "day": Fraction(12, 365),
    "week": Fraction(12, 52),
    "month": Fraction(1),
    "year": Fraction(12),
}


@dataclass(frozen=True)
class Item:
    """One licensed subscription item as MRR sees it."""

    price_id: str | None
    product_id: str | None
    unit_amount: Fraction
    quantity: int
    interval: str
    interval_count: int
    currency: str | None

    @property
    def months(self) -> Fraction:
        """How many months one billing interval of this item lasts."""
        return MONTHS_PER_INTERVAL[self.interval] * self.interval_count

    @property
    def monthly(self) -> Fraction:
        return self.unit_amount * self.quantity / self.months


def round_half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2) if value >= 0 else -round_half_up(-value)


def price_item(price: Any, quantity: int | None, *, price_id: str | None = None) -> Item | None:
    """An item from a price (an expanded Stripe price) and a quantity; None if it is not
    recurring licensed revenue (one-time, metered) or the price is unknown."""
    if not isinstance(price, dict):
        return None
    recurring = price.get("recurring")
    if not isinstance(recurring, dict) or recurring.get("usage_type") == "metered":
        return None
    interval = recurring.get("interval")
    if interval not in MONTHS_PER_INTERVAL:
        return None
    amount = unit_amount(price)
    if amount is None:
        return None
    units = int(quantity if quantity is not None else 1)
    transform = price.get("transform_quantity")
    if isinstance(transform, dict) and transform.get("divide_by"):
        divided = Fraction(units, int(transform["divide_by"]))
        whole = int(divided) if divided == int(divided) else int(divided) + (transform.get("round") == "up")
        units = whole
    return Item(
        price_id=price_id or id_of(price),
        product_id=id_of(price.get("product")),
        unit_amount=amount,
        quantity=units,
        interval=str(interval),
        interval_count=int(recurring.get("interval_count") or 1),
        currency=price.get("currency"),
    )


def unit_amount(price: dict[str, Any]) -> Fraction | None:
    """A per-unit price's amount (tiered prices need their tiers, which are not read: None)."""
    if price.get("billing_scheme") == "tiered":
        return None
    decimal = price.get("unit_amount_decimal")
    if decimal not in (None, ""):
        return Fraction(str(decimal))
    amount = price.get("unit_amount")
    return Fraction(int(amount)) if amount is not None else None


def subscription_items(subscription: dict[str, Any]) -> list[Item]:
    found = []
    for item in (subscription.get("items") or {}).get("data") or []:
        made = price_item(item.get("price"), item.get("quantity"))
        if made is not None:
            found.append(made)
    return found


def coupon_of(discount: Any) -> dict[str, Any] | None:
    """A discount's coupon, when the discount was read expanded (`discounts.source.coupon`);
    older API versions embed it as `discount.coupon`."""
    if not isinstance(discount, dict):
        return None
    coupon = discount.get("coupon")
    if not isinstance(coupon, dict):
        source = discount.get("source")
        coupon = source.get("coupon") if isinstance(source, dict) else None
    return coupon if isinstance(coupon, dict) else None


def forever_discounts(subscription: dict[str, Any], at: int | None = None) -> list[dict[str, Any]]:
    """The subscription's discounts whose coupon lasts forever (and, at `at`, had started)."""
    found = []
    for discount in subscription.get("discounts") or []:
        coupon = coupon_of(discount)
        if coupon is None or coupon.get("duration") != "forever":
            continue
        if at is not None and int(discount.get("start") or 0) > at:
            continue
        found.append(discount)
    return found


def after_discounts(items: list[Item], discounts: Iterable[dict[str, Any]]) -> Fraction:
    """The items' monthly total less the forever discounts, never below zero."""
    total = sum((i.monthly for i in items), Fraction(0))
    for discount in discounts:
        coupon = coupon_of(discount)
        if coupon is None:
            continue
        products = ((coupon.get("applies_to") or {}).get("products")) or None
        covered = [i for i in items if products is None or i.product_id in products]
        base = sum((i.monthly for i in covered), Fraction(0))
        if coupon.get("percent_off") is not None:
            off = base * Fraction(str(coupon["percent_off"])) / 100
        elif coupon.get("amount_off") is not None and covered:
            currency = covered[0].currency
            if coupon.get("currency") not in (None, currency):
                continue
            off = min(base, Fraction(int(coupon["amount_off"])) / covered[0].months)
        else:
            continue
        total -= off
    return max(total, Fraction(0))


def counts(subscription: dict[str, Any]) -> bool:
    """Whether the subscription is worth anything now (see the module docstring)."""
    if subscription.get("status") not in COUNTED_STATUSES:
        return False
    return not subscription.get("pause_collection")


def configured_value(subscription: dict[str, Any], at: int | None = None) -> int:
    """What the subscription's items and forever discounts are worth a month, whatever its
    status (the value it has whenever it counts)."""
    return round_half_up(after_discounts(subscription_items(subscription), forever_discounts(subscription, at)))


def monthly_value(subscription: dict[str, Any]) -> int:
    """The subscription's MRR now, in the currency's smallest unit."""
    return configured_value(subscription) if counts(subscription) else 0


def currency_of(subscription: dict[str, Any]) -> str | None:
    currency = subscription.get("currency")
    if isinstance(currency, str) and currency:
        return currency
    items = subscription_items(subscription)
    return items[0].currency if items else None
