"""The catalog: what is for sale, declared in TOML and matched to Stripe by lookup key.

Prices are never hardcoded as Stripe ids: a plan's price is found in Stripe by its lookup
key (`<plan>_<interval>`), so the same catalog works in test and live mode.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
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

Interval = Literal["month", "year"]
INTERVALS: tuple[Interval, ...] = ("month", "year")
PER_SEAT_SUFFIX = "_per_seat"
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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

    @model_validator(mode="after")
    def _seats(self) -> Plan:
        if not self.prices:
            raise ValueError("a plan needs at least one price (month and/or year)")
        if not self.per_seat and self.max_quantity != 1:
            raise ValueError("max_quantity applies to per_seat plans only")
        return self

    def lookup_key(self, interval: str) -> str:
        return f"{self.key}_{interval}"

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


@dataclass(frozen=True)
class PriceSpec:
    """One price the catalog wants in Stripe."""

    lookup_key: str
    product_id: str
    unit_amount: int
    currency: str
    interval: str | None  # None: one-time
    metadata: dict[str, str]


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

    @model_validator(mode="before")
    @classmethod
    def _keys_into_entries(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for section in ("plans", "products"):
                entries = data.get(section)
                if isinstance(entries, dict):
                    data[section] = {k: {**v, "key": k} if isinstance(v, dict) else v for k, v in entries.items()}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        if not self.plans:
            raise ValueError("the catalog declares no plans")
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

    def product(self, key: str) -> OneTimeProduct | None:
        return self.products.get(key)

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

    def product_specs(self) -> list[ProductSpec]:
        specs = [ProductSpec(p.product_id, p.name, p.description, {"paywire_plan": p.key}) for p in self.plans.values()]
        specs += [
            ProductSpec(p.product_id, p.name, p.description, {"paywire_product": p.key}) for p in self.products.values()
        ]
        return specs

    def price_specs(self) -> list[PriceSpec]:
        specs = []
        for plan in self.plans.values():
            for interval, amount in plan.prices.items():
                key = plan.lookup_key(interval)
                meta = {"paywire_plan": plan.key, "paywire_interval": interval}
                specs.append(PriceSpec(key, plan.product_id, amount, self.currency, interval, meta))
        for product in self.products.values():
            meta = {"paywire_product": product.key}
            specs.append(PriceSpec(product.lookup_key, product.product_id, product.price, self.currency, None, meta))
        return specs

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
