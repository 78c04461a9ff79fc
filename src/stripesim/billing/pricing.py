"""What things cost: a price for a quantity, the unused share of a period, the tax on an amount.

Amounts are integers in the currency's smallest unit, rounded half up as Stripe rounds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from stripesim.state import Record


def amount_for(price: Record, quantity: int) -> int:
    """What `quantity` units of `price` cost."""
    if price.get("billing_scheme") == "tiered":
        return _tiered_amount(price, quantity)
    unit = Decimal(price.get("unit_amount_decimal") or price.get("unit_amount") or 0)
    transform = price.get("transform_quantity")
    if transform:
        divided = Decimal(quantity) / Decimal(transform["divide_by"])
        q = int(divided.to_integral_value(rounding="ROUND_CEILING" if transform["round"] == "up" else "ROUND_FLOOR"))
        return int((unit * q).to_integral_value(rounding=ROUND_HALF_UP))
    return int((unit * quantity).to_integral_value(rounding=ROUND_HALF_UP))


def _tiered_amount(price: Record, quantity: int) -> int:
    tiers = price.get("tiers") or []
    if price.get("tiers_mode") == "volume":
        for tier in tiers:
            if tier["up_to"] is None or quantity <= tier["up_to"]:
                unit = Decimal(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0)
                return int(unit * quantity) + int(tier.get("flat_amount") or 0) if quantity else 0
        return 0
    total = Decimal(0)
    previous = 0
    for tier in tiers:
        if quantity <= previous:
            break
        upper = tier["up_to"] if tier["up_to"] is not None else quantity
        units = min(quantity, upper) - previous
        unit = Decimal(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0)
        total += unit * units + int(tier.get("flat_amount") or 0)
        previous = upper
    return int(total.to_integral_value(rounding=ROUND_HALF_UP))


def prorated(amount: int, start: int, end: int, at: int) -> int:
    """The share of `amount` (charged for [start, end)) that is left at time `at`."""
    length = max(1, end - start)
    remaining = min(max(0, end - at), length)
    return round_half_up(Decimal(amount) * remaining / length)


def tax_amount(rate: Record, amount: int) -> int:
    """The tax a rate puts on `amount`. For an inclusive rate `amount` already contains the
    tax, and the result is its share."""
    pct = Decimal(str(rate["percentage"]))
    base = Decimal(amount)
    return round_half_up(base - base / (1 + pct / 100) if rate.get("inclusive") else base * pct / 100)


def round_half_up(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))
