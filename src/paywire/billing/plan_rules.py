"""Which change a request is, from the catalog and the current plan alone. Pure.

Which is which (`direction`): a higher-ranked plan is an upgrade, a lower one a downgrade;
on the same plan a yearly interval is an upgrade from monthly (paid now), monthly a
downgrade from yearly; then more seats are an upgrade, fewer a downgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from paywire.billing.checkout import SubscriptionChoice, choose
from paywire.billing.errors import InvalidChoice, PlanNotFound, SubscriptionConflict
from paywire.catalog import Catalog, Plan

INTERVAL_RANK = {"month": 0, "year": 1}


class ChangeKind(StrEnum):
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


@dataclass(frozen=True)
class Target:
    plan: Plan
    interval: str
    quantity: int

    @property
    def lookup_key(self) -> str:
        return self.plan.lookup_key(self.interval)

    def describe(self) -> str:
        seats = f" × {self.quantity}" if self.plan.per_seat else ""
        return f"{self.plan.name} ({self.interval}ly{seats})"


def validate_request(catalog: Catalog, *, plan: str | None, interval: str | None, quantity: int | None) -> None:
    """The catalog checks that need no subscription: before anything is read from Stripe."""
    if not plan:
        raise PlanNotFound("Name the plan to change to.")
    choose(catalog, plan=plan, interval=interval, quantity=1 if quantity is None else quantity)


def choose_target(
    catalog: Catalog,
    *,
    plan: str | None,
    interval: str | None,
    quantity: int | None,
    current_plan: str | None,
    current_quantity: int,
) -> Target:
    """What the user asks for, checked against the catalog. Seats default to the current
    count when staying on a per-seat plan, else to one."""
    validate_request(catalog, plan=plan, interval=interval, quantity=quantity)
    if quantity is None:
        found = catalog.plan(str(plan))
        quantity = current_quantity if found is not None and found.per_seat and plan == current_plan else 1
    choice = choose(catalog, plan=plan, interval=interval, quantity=quantity)
    if not isinstance(choice, SubscriptionChoice):  # pragma: no cover - choose returns plans for plans
        raise InvalidChoice("Name a plan.", field="plan")
    return Target(choice.plan, choice.interval, choice.quantity)


def direction(
    current_plan: Plan | None, current_interval: str | None, current_quantity: int, target: Target
) -> ChangeKind:
    """Upgrade or downgrade (see the module docstring). Raises for the current plan itself."""
    same_plan = current_plan is not None and current_plan.key == target.plan.key
    if same_plan and current_interval == target.interval and current_quantity == target.quantity:
        raise SubscriptionConflict(f"You are already on {target.describe()}.", code="already_on_plan", field="plan")
    if current_plan is None:
        return ChangeKind.UPGRADE  # an unknown (legacy) price: anything in the catalog is a move up
    if not same_plan:
        return ChangeKind.UPGRADE if target.plan.rank > current_plan.rank else ChangeKind.DOWNGRADE
    if current_interval != target.interval:
        before = INTERVAL_RANK.get(current_interval or "", 0)
        return ChangeKind.UPGRADE if INTERVAL_RANK[target.interval] > before else ChangeKind.DOWNGRADE
    return ChangeKind.UPGRADE if target.quantity > current_quantity else ChangeKind.DOWNGRADE
