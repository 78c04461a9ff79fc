"""The catalog: what is for sale, declared in TOML and matched to Stripe by lookup key.

Prices are never hardcoded as Stripe ids: a plan's price is found in Stripe by its lookup
key (`<plan>_<interval>`), so the same catalog works in test and live mode.

Usage-based billing: `[meters.<key>]` declares a Stripe Billing Meter (its event name, its
formula `sum`/`count`/`last`, the payload keys), and `[plans.<plan>.usage.<meter>]` gives a
plan a metered price on it (lookup key `<plan>_<meter>_<interval>`), on the same subscription
as the plan's flat price (a hybrid plan): per unit, or graduated tiers with an `included`
allowance (per month; a yearly price includes twelve months' worth and its tiers reach twelve
times as far). Its `limit` says what happens when the allowance is spent: `soft` (notices at
80 % and 100 %, usage beyond is billed) or `hard` (refused, `require_usage` answers 429; the
usage price is then 0, there is nothing beyond).

Marketplaces (Stripe Connect): a product with `marketplace = true` is sold by sellers, bought from
one of them, and paid to the seller's connected account, the platform keeping `fee_percent` (and
`fee_fixed`); a plan with `marketplace = true` is a seller's plan, subscribed to from a seller,
the platform keeping `fee_percent` of each invoice. Neither is offered on the pricing page.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from paywire.config import ConfigError
from paywire.stripe.ids import id_of

Interval = Literal["month", "year"]
INTERVALS: tuple[Interval, ...] = ("month", "year")
PER_SEAT_SUFFIX = "_per_seat"
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
PayloadKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,100}$")]
EventName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]
MONTHS = {"month": 1, "year": 12}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meter(_Strict):
    """A Stripe Billing Meter: what a usage event counts, and how it is added up."""

    key: str = ""
    name: str
    event_name: EventName | None = None  # default: the key
    formula: Literal["sum", "count", "last"] = "sum"
    customer_key: PayloadKey = "stripe_customer_id"
    value_key: PayloadKey = "value"

    @property
    def event(self) -> str:
        """The meter's `event_name`: what usage events name it by (`POST /api/usage`'s `meter`)."""
        return self.event_name or self.key

    @property
    def product_id(self) -> str:
        """The product its prices belong to (its invoice lines carry its name)."""
        return f"paywire_meter_{self.key}"


def _decimal(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a decimal amount") from None
    if not value.is_finite() or value < 0 or value.as_tuple().exponent < -12:  # type: ignore[operator]
        raise ValueError(f"{raw!r}: a non-negative amount with at most 12 decimals")
    return value


class Tier(_Strict):
    """A graduated tier: units up to `up_to` (or "inf") cost `unit_amount` (cents) each."""

    up_to: int | Literal["inf"]
    unit_amount: int | None = Field(None, ge=0)
    unit_amount_decimal: str | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> Tier:
        if (self.unit_amount is None) == (self.unit_amount_decimal is None):
            raise ValueError("a tier needs unit_amount or unit_amount_decimal (one of them)")
        if self.unit_amount_decimal is not None:
            _decimal(self.unit_amount_decimal)
        if self.up_to != "inf" and self.up_to < 1:
            raise ValueError("a tier's up_to is at least 1")
        return self

    @property
    def unit(self) -> Decimal:
        return Decimal(self.unit_amount) if self.unit_amount is not None else _decimal(self.unit_amount_decimal or "0")


@dataclass(frozen=True)
class PriceTier:
    """A tier as Stripe takes it: `up_to` None is "inf"."""

    up_to: int | None
    unit_amount_decimal: str


class Usage(_Strict):
    """A plan's metered price on one meter, and its limit."""

    meter: str = ""
    included: int = Field(0, ge=0)  # units a month at no charge
    unit_amount: int | None = Field(None, ge=0)  # cents per unit beyond what is included
    unit_amount_decimal: str | None = None
    tiers: tuple[Tier, ...] = ()  # graduated, instead of included + unit_amount
    limit: Literal["soft", "hard"] = "soft"

    @model_validator(mode="after")
    def _priced(self) -> Usage:
        per_unit = self.unit_amount is not None or self.unit_amount_decimal is not None
        if self.unit_amount is not None and self.unit_amount_decimal is not None:
            raise ValueError("give unit_amount or unit_amount_decimal, not both")
        if self.unit_amount_decimal is not None:
            _decimal(self.unit_amount_decimal)
        if self.tiers:
            if per_unit or self.included:
                raise ValueError("tiers replace included and unit_amount: give one or the other")
            bounds = [t.up_to for t in self.tiers]
            if bounds[-1] != "inf" or "inf" in bounds[:-1]:
                raise ValueError('only the last tier reaches "inf", and it must')
            finite = [b for b in bounds if b != "inf"]
            if finite != sorted(set(finite)):
                raise ValueError("tiers must rise (each up_to above the one before)")
        if self.limit == "hard":
            if not self.allowance:
                raise ValueError("a hard limit needs an allowance (included, or a first tier at no charge)")
            if per_unit and self.unit_price:
                raise ValueError("a hard limit has no price beyond its allowance (leave unit_amount out)")
            if len(self.tiers) > 1 and any(t.unit for t in self.tiers[1:]):
                raise ValueError("a hard limit has no price beyond its allowance")
        elif not per_unit and not self.tiers:
            raise ValueError("a soft limit bills usage beyond the allowance: give unit_amount(_decimal) or tiers")
        return self

    @property
    def allowance(self) -> int:
        """Units a month at no charge: `included`, or the first tier when it costs nothing."""
        if self.tiers:
            first = self.tiers[0]
            return first.up_to if first.up_to != "inf" and not first.unit else 0
        return self.included

    @property
    def unit_price(self) -> Decimal:
        """Cents per unit just beyond the allowance (0 when nothing is billed beyond it)."""
        if self.tiers:
            beyond = self.tiers[1:] if self.allowance else self.tiers
            return beyond[0].unit if beyond else Decimal(0)
        if self.unit_amount is not None:
            return Decimal(self.unit_amount)
        return _decimal(self.unit_amount_decimal or "0")

    @property
    def has_overage(self) -> bool:
        return self.limit == "soft"

    def included_for(self, interval: str) -> int:
        return self.allowance * MONTHS[interval]

    def price_tiers(self, interval: str) -> tuple[PriceTier, ...]:
        """The graduated tiers of its Stripe price for `interval` (empty: a per-unit price)."""
        months = MONTHS[interval]
        if self.tiers:
            return tuple(PriceTier(None if t.up_to == "inf" else t.up_to * months, _plain(t.unit)) for t in self.tiers)
        if self.included:
            return (PriceTier(self.included * months, "0"), PriceTier(None, _plain(self.unit_price)))
        return ()


def _plain(value: Decimal) -> str:
    """A decimal amount as Stripe writes it ("0.1", "100")."""
    return f"{value.normalize():f}"


class Plan(_Strict):
    key: str = ""
    name: str
    description: str | None = None
    rank: int = Field(ge=0)
    features: tuple[str, ...] = ()
    limits: dict[str, int] = Field(default_factory=dict)
    prices: dict[Interval, Annotated[int, Field(gt=0)]]
    per_seat: bool = False
    max_quantity: int = Field(1, ge=1, le=10_000)
    stripe_product_id: str | None = None
    # A seller's plan (Stripe Connect): subscribed to from a seller (`POST /api/checkout` with
    # `seller`), each invoice paid to the seller's account; the platform keeps `fee_percent`.
    marketplace: bool = False
    fee_percent: Decimal = Field(Decimal(0), ge=0, le=100)
    # Metered prices on the plan's subscriptions, by meter key (a hybrid plan).
    usage: dict[Key, Usage] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _meter_keys_into_usage(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("usage"), dict):
            usage = {k: {**v, "meter": k} if isinstance(v, dict) else v for k, v in data["usage"].items()}
            data = {**data, "usage": usage}
        return data

    @model_validator(mode="after")
    def _seats(self) -> Plan:
        if not self.prices:
            raise ValueError("a plan needs at least one price (month and/or year)")
        if not self.per_seat and self.max_quantity != 1:
            raise ValueError("max_quantity applies to per_seat plans only")
        return self

    def lookup_key(self, interval: str) -> str:
        return f"{self.key}_{interval}"

    def usage_lookup_key(self, meter: str, interval: str) -> str:
        """The lookup key of the plan's metered price on `meter` for `interval`."""
        return f"{self.key}_{meter}_{interval}"

    def usage_lookup_keys(self, interval: str) -> list[str]:
        return [self.usage_lookup_key(meter, interval) for meter in self.usage]

    def limits_for(self, quantity: int) -> dict[str, int]:
        """The plan's limits for `quantity` seats: a limit named `<name>_per_seat` also
        gives `<name>` = its value times the seats (so `members_per_seat = 1` with 3 seats
        is `members = 3`); a plan not sold per seat has its limits as declared."""
        limits = dict(self.limits)
        if self.per_seat:
            seats = max(1, quantity)
            for name, value in self.limits.items():
                if name.endswith(PER_SEAT_SUFFIX):
                    limits[name.removesuffix(PER_SEAT_SUFFIX)] = value * seats
        return limits

    @property
    def product_id(self) -> str:
        return self.stripe_product_id or f"paywire_plan_{self.key}"


class OneTimeProduct(_Strict):
    key: str = ""
    name: str
    description: str | None = None
    price: int = Field(gt=0)
    grants_plan: str
    duration_months: int = Field(ge=1, le=120)
    stripe_product_id: str | None = None

    @property
    def lookup_key(self) -> str:
        return self.key

    @property
    def product_id(self) -> str:
        return self.stripe_product_id or f"paywire_product_{self.key}"


class MarketplaceProduct(_Strict):
    """A product sold by sellers (Stripe Connect), `[products.<key>]` with `marketplace = true`:
    bought from one seller at the catalog's price, paid to the seller's connected account; the
    platform keeps `fee_percent` of the price plus `fee_fixed` (a seller's own terms, set by an
    admin, replace these)."""

    key: str = ""
    name: str
    description: str | None = None
    price: int = Field(gt=0)
    marketplace: Literal[True] = True
    fee_percent: Decimal = Field(Decimal(0), ge=0, le=100)
    fee_fixed: int = Field(0, ge=0)
    stripe_product_id: str | None = None

    @model_validator(mode="after")
    def _fee_below_price(self) -> MarketplaceProduct:
        if platform_fee(self.price, self.fee_percent, self.fee_fixed) >= self.price:
            raise ValueError("the platform's fee must be less than the price")
        return self

    @property
    def lookup_key(self) -> str:
        return self.key

    @property
    def product_id(self) -> str:
        return self.stripe_product_id or f"paywire_product_{self.key}"


def platform_fee(amount: int, percent: Decimal, fixed: int = 0) -> int:
    """The platform's cut of `amount` (cents): `percent` of it, rounded half up, plus `fixed`,
    never more than the amount. Pure."""
    share = (Decimal(amount) * percent / 100).quantize(Decimal(1), ROUND_HALF_UP)
    return min(amount, int(share) + fixed)


@dataclass(frozen=True)
class PriceSpec:
    """One price the catalog wants in Stripe. A metered price names its `meter` (a catalog
    key) and is per unit (`unit_amount_decimal`) or graduated (`tiers`)."""

    lookup_key: str
    product_id: str
    unit_amount: int | None
    currency: str
    interval: str | None  # None: one-time
    metadata: dict[str, str]
    meter: str | None = None
    unit_amount_decimal: str | None = None
    tiers: tuple[PriceTier, ...] = field(default=())

    @property
    def metered(self) -> bool:
        return self.meter is not None


@dataclass(frozen=True)
class ProductSpec:
    product_id: str
    name: str
    description: str | None
    metadata: dict[str, str]


class Catalog(_Strict):
    currency: str = Field("usd", pattern=r"^[a-z]{3}$")
    plans: dict[Key, Plan]
    products: dict[Key, OneTimeProduct] = Field(default_factory=dict)
    # `[products.*]` entries with `marketplace = true`, kept apart from the passes.
    marketplace_products: dict[Key, MarketplaceProduct] = Field(default_factory=dict)
    meters: dict[Key, Meter] = Field(default_factory=dict)
    # Checkout asks the payer to accept the terms of service (`consent_collection`; Stripe
    # links the terms' URL set in the Dashboard's public details), and shows the refund policy
    # beside the checkbox. Both are evidence when a payment is disputed.
    terms_of_service: bool = False
    refund_policy: str | None = Field(None, max_length=1200)

    @model_validator(mode="before")
    @classmethod
    def _keys_into_entries(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for section in ("plans", "products", "meters"):
                entries = data.get(section)
                if isinstance(entries, dict):
                    data[section] = {k: {**v, "key": k} if isinstance(v, dict) else v for k, v in entries.items()}
            products = data.get("products")
            if isinstance(products, dict) and "marketplace_products" not in data:
                sold = {k: v for k, v in products.items() if isinstance(v, dict) and v.get("marketplace")}
                data["products"] = {k: v for k, v in products.items() if k not in sold}
                data["marketplace_products"] = sold
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        if not self.plans:
            raise ValueError("the catalog declares no plans")
        events = [meter.event for meter in self.meters.values()]
        if len(set(events)) != len(events):
            raise ValueError("two meters share an event_name")
        for plan in self.plans.values():
            for meter in plan.usage:
                if meter not in self.meters:
                    raise ValueError(f"plan {plan.key!r} bills usage of unknown meter {meter!r}")
        ranks = [p.rank for p in self.plans.values()]
        if len(set(ranks)) != len(ranks):
            raise ValueError("plan ranks must be distinct (they order upgrades and downgrades)")
        for product in self.products.values():
            if product.grants_plan not in self.plans:
                raise ValueError(f"product {product.key!r} grants unknown plan {product.grants_plan!r}")
        keys = [spec.lookup_key for spec in self.price_specs()]
        if len(set(keys)) != len(keys):
            raise ValueError("lookup keys collide between plans and products")
        ids = [spec.product_id for spec in self.product_specs()]
        if len(set(ids)) != len(ids):
            raise ValueError("Stripe product ids collide")
        return self

    def plan(self, key: str) -> Plan | None:
        return self.plans.get(key)

    def meter_for_event(self, event_name: str) -> Meter | None:
        """The meter usage events name by `event_name`."""
        for meter in self.meters.values():
            if meter.event == event_name:
                return meter
        return None

    def product(self, key: str) -> OneTimeProduct | None:
        return self.products.get(key)

    def marketplace_product(self, key: str) -> MarketplaceProduct | None:
        return self.marketplace_products.get(key)

    def one_time_products(self) -> list[OneTimeProduct | MarketplaceProduct]:
        """Everything sold once: the passes, and what sellers sell."""
        return [*self.products.values(), *self.marketplace_products.values()]

    def plan_for_lookup_key(self, lookup_key: str | None) -> tuple[str, str] | None:
        """(plan, interval) for a subscription price's lookup key, e.g. pro_year."""
        if not lookup_key:
            return None
        for plan in self.plans.values():
            for interval in plan.prices:
                if plan.lookup_key(interval) == lookup_key:
                    return plan.key, interval
        return None

    def plan_for_product_id(self, product_id: str | None) -> str | None:
        for plan in self.plans.values():
            if plan.product_id == product_id:
                return plan.key
        return None

    def plan_of(self, prices: Iterable[Any]) -> tuple[str | None, str | None]:
        """(plan, interval) of a subscription (or a schedule phase) from its prices (expanded
        objects): by lookup key first; a price that lost its lookup key to a newer price (a
        changed amount keeps old subscribers on the old price) is still known by its product
        and interval."""
        for price in prices:
            if not isinstance(price, dict):
                continue
            found = self.plan_for_lookup_key(price.get("lookup_key"))
            if found is not None:
                return found
            interval = (price.get("recurring") or {}).get("interval")
            metadata = price.get("metadata") or {}
            plan = metadata.get("paywire_plan") or self.plan_for_product_id(id_of(price.get("product")))
            if plan and self.plan(plan) is not None:
                return plan, interval
        return None, None

    def plan_of_subscription(self, subscription: dict[str, Any]) -> tuple[str | None, str | None]:
        """(plan, interval) of a Stripe subscription, from its items' prices (expanded)."""
        return self.plan_of(item.get("price") for item in (subscription.get("items") or {}).get("data") or [])

    def product_specs(self) -> list[ProductSpec]:
        specs = [ProductSpec(p.product_id, p.name, p.description, {"paywire_plan": p.key}) for p in self.plans.values()]
        sold = self.one_time_products()
        specs += [ProductSpec(p.product_id, p.name, p.description, {"paywire_product": p.key}) for p in sold]
        specs += [ProductSpec(m.product_id, m.name, None, {"paywire_meter": m.key}) for m in self.meters.values()]
        return specs

    def price_specs(self) -> list[PriceSpec]:
        specs = []
        for plan in self.plans.values():
            for interval, amount in plan.prices.items():
                key = plan.lookup_key(interval)
                meta = {"paywire_plan": plan.key, "paywire_interval": interval}
                specs.append(PriceSpec(key, plan.product_id, amount, self.currency, interval, meta))
                for meter_key, usage in plan.usage.items():
                    specs.append(self._usage_spec(plan, interval, self.meters[meter_key], usage))
        for product in self.one_time_products():
            meta = {"paywire_product": product.key}
            specs.append(PriceSpec(product.lookup_key, product.product_id, product.price, self.currency, None, meta))
        return specs

    def _usage_spec(self, plan: Plan, interval: str, meter: Meter, usage: Usage) -> PriceSpec:
        tiers = usage.price_tiers(interval)
        return PriceSpec(
            lookup_key=plan.usage_lookup_key(meter.key, interval),
            product_id=meter.product_id,
            unit_amount=None,
            currency=self.currency,
            interval=interval,
            metadata={"paywire_plan": plan.key, "paywire_interval": interval, "paywire_meter": meter.key},
            meter=meter.key,
            unit_amount_decimal=None if tiers else _plain(usage.unit_price),
            tiers=tiers,
        )

    def usage_specs(self, plan: Plan, interval: str) -> list[PriceSpec]:
        """The plan's metered prices for `interval`, one per meter."""
        return [self._usage_spec(plan, interval, self.meters[key], usage) for key, usage in plan.usage.items()]

    def lookup_keys(self) -> list[str]:
        return [spec.lookup_key for spec in self.price_specs()]


def parse_catalog(text: str, source: str = "catalog") -> Catalog:
    """A validated catalog from TOML text; errors name the source and the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("PAYWIRE_CATALOG", f"{source} is not valid TOML: {exc}") from None
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        at = f" at {where}" if where else ""
        raise ConfigError("PAYWIRE_CATALOG", f"{source}{at}: {message}") from None


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog at `path`, or the bundled default."""
    if path is None:
        text = resources.files("paywire.catalog").joinpath("default.toml").read_text("utf-8")
        return parse_catalog(text, "bundled default.toml")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError("PAYWIRE_CATALOG", f"cannot read {path}: {exc.strerror}") from None
    return parse_catalog(text, str(path))
