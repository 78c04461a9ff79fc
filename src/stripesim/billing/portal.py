"""What a customer may do in the portal, and doing it through the API's own handlers.

Every action builds the parameters the API would receive and calls the same handler
(`update_subscription`, `cancel_subscription`, `update_customer`), so the objects and the
webhooks are exactly those of the equivalent API request. Only a downgrade scheduled for the
period end goes through `schedules.from_subscription` + `set_phases` directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripesim.billing import payment_methods as pms
from stripesim.billing import portal_config as cfg
from stripesim.billing import schedules
from stripesim.billing.cards import card_for
from stripesim.billing.periods import period_end
from stripesim.billing.subscriptions import LIVE, items_of, period_of
from stripesim.errors import StripeError
from stripesim.resources.prices import amount_for
from stripesim.routes import Ctx
from stripesim.state import Record, State
from stripesim.wire import Params

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


class PortalError(Exception):
    """An action the portal refuses, with the message the customer sees (and the field)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class QuantityRule:
    enabled: bool
    minimum: int = 1
    maximum: int | None = None


def call_api(state: State, handler: Callable[..., Any], path: str, data: dict[str, Any], **path_params: str) -> Record:
    """Run an API handler as if `data` had been POSTed to `path`; its Stripe errors become PortalErrors."""
    ctx = Ctx(state=state, params=Params(data), method="POST", path=path)
    try:
        result = handler(ctx, **path_params)
    except StripeError as err:
        raise PortalError(err.message) from err
    assert isinstance(result, dict), f"{path} answered {type(result).__name__}, not an object"
    return result


# ----- what is allowed ----------------------------------------------------------------------------
def live_subscriptions(state: State, customer: Record) -> list[Record]:
    return [s for s in state.where("subscription", customer=customer["id"]) if s["status"] in LIVE]


def owned_subscription(state: State, customer: Record, sub_id: str) -> Record | None:
    sub = state.find(sub_id, "subscription")
    return sub if sub is not None and sub["customer"] == customer["id"] else None


def _rule(config: Record, product_id: str) -> dict[str, Any] | None:
    return next((p for p in cfg.products_of(config) if p["product"] == product_id), None)


def price_choices(state: State, config: Record, sub: Record, item: Record) -> list[Record]:
    """The prices this item may switch to (its current price first), per the configuration."""
    feature = config["features"]["subscription_update"]
    current = state.get(item["price"], "price")
    if not feature["enabled"] or _rule(config, current["product"]) is None:
        return [current]
    if "price" not in feature["default_allowed_updates"]:
        return [current]
    out = [current]
    for entry in cfg.products_of(config):
        for price_id in entry["prices"]:
            price = state.find(price_id, "price")
            if (
                price is None
                or price["id"] == current["id"]
                or not price.get("active")
                or price.get("type") != "recurring"
                or price["currency"] != sub["currency"]
            ):
                continue
            out.append(price)
    return out


def quantity_rule(config: Record, product_id: str) -> QuantityRule:
    feature = config["features"]["subscription_update"]
    entry = _rule(config, product_id)
    if not feature["enabled"] or entry is None:
        return QuantityRule(False)
    adjustable = entry["adjustable_quantity"]
    if adjustable["enabled"]:
        return QuantityRule(True, adjustable.get("minimum") or 0, adjustable.get("maximum"))
    return QuantityRule("quantity" in feature["default_allowed_updates"])


def can_update(state: State, config: Record, sub: Record) -> bool:
    if sub["status"] not in ("active", "trialing", "past_due") or sub.get("pending_update"):
        return False
    for item in items_of(state, sub):
        price = state.get(item["price"], "price")
        if len(price_choices(state, config, sub, item)) > 1 or quantity_rule(config, price["product"]).enabled:
            return True
    return False


def can_cancel(config: Record, sub: Record) -> bool:
    ended = sub["status"] in ("canceled", "incomplete_expired")
    return (
        config["features"]["subscription_cancel"]["enabled"]
        and not ended
        and not sub["cancel_at_period_end"]
        and not sub.get("cancel_at")
    )


def scheduled_change(state: State, sub: Record) -> dict[str, Any] | None:
    """The next phase of a schedule the portal made for a change at the period end."""
    schedule = state.find(sub.get("schedule") or "", "subscription_schedule")
    if schedule is None or schedule["status"] != "active" or len(schedule["phases"]) < 2:
        return None
    return schedule["phases"][1]


# ----- changing plan or quantity ------------------------------------------------------------------
def _per_day(price: Record, quantity: int) -> float:
    recurring = price.get("recurring") or {}
    days = DAYS.get(recurring.get("interval", "month"), 30) * int(recurring.get("interval_count") or 1)
    return amount_for(price, quantity) / days


def _interval_days(price: Record) -> int:
    recurring = price.get("recurring") or {}
    return DAYS.get(recurring.get("interval", "month"), 30) * int(recurring.get("interval_count") or 1)


def _at_period_end(config: Record, old: tuple[Record, int], new: tuple[Record, int]) -> bool:
    conditions = {c["type"] for c in config["features"]["subscription_update"]["schedule_at_period_end"]["conditions"]}
    if "decreasing_item_amount" in conditions and _per_day(*new) < _per_day(*old):
        return True
    return "shortening_interval" in conditions and _interval_days(new[0]) < _interval_days(old[0])


def change_item(
    state: State, config: Record, sub: Record, item_id: str, price_id: str | None, quantity: int | None
) -> str:
    """Switch an item's price and/or quantity. Returns "updated", "scheduled", "unchanged"
    or "payment_failed" (the change waits as a pending update for its invoice to be paid)."""
    if not can_update(state, config, sub):
        raise PortalError("This subscription can't be updated here.")
    item = state.find(item_id, "subscription_item")
    if item is None or item["subscription"] != sub["id"]:
        raise PortalError("That subscription item no longer exists.")
    current = state.get(item["price"], "price")
    choices = {p["id"]: p for p in price_choices(state, config, sub, item)}
    target = choices.get(price_id or current["id"])
    if target is None:
        raise PortalError("That plan isn't available.", "price")
    rule = quantity_rule(config, target["product"])
    new_qty = item["quantity"] or 1
    if quantity is not None and quantity != item["quantity"]:
        if not rule.enabled:
            raise PortalError("The quantity of this plan can't be changed.", "quantity")
        if quantity < rule.minimum or (rule.maximum is not None and quantity > rule.maximum):
            top = f" and {rule.maximum}" if rule.maximum is not None else ""
            raise PortalError(f"Choose a quantity of at least {rule.minimum}{top}.", "quantity")
        new_qty = quantity
    if target["id"] == current["id"] and new_qty == item["quantity"]:
        return "unchanged"
    if _at_period_end(config, (current, item["quantity"] or 1), (target, new_qty)):
        _schedule(state, sub, item, target, new_qty)
        return "scheduled"
    feature = config["features"]["subscription_update"]
    data: dict[str, Any] = {
        "items": [{"id": item["id"], "price": target["id"], "quantity": str(new_qty)}],
        "proration_behavior": feature["proration_behavior"],
        "payment_behavior": "pending_if_incomplete",
    }
    if sub["status"] == "trialing" and feature["trial_update_behavior"] == "end_trial":
        data["trial_end"] = "now"
    if feature.get("billing_cycle_anchor") == "now":
        data["billing_cycle_anchor"] = {"type": "now"}
    _drop_schedule(state, sub)
    from stripesim.resources.subscriptions import update_subscription

    call_api(state, update_subscription, f"/v1/subscriptions/{sub['id']}", data, sub=sub["id"])
    return "payment_failed" if sub.get("pending_update") else "updated"


def _schedule(state: State, sub: Record, item: Record, price: Record, quantity: int) -> None:
    schedule = state.find(sub.get("schedule") or "", "subscription_schedule")
    if schedule is not None and not schedule.get("_portal"):
        raise PortalError("This subscription has scheduled changes and can't be updated here.")
    if schedule is None:
        schedule = schedules.from_subscription(state, sub)
        schedule["_portal"] = True
    start, end = period_of(sub)
    now_items = [
        {"price": i["price"], "quantity": i["quantity"], "metadata": i["metadata"]} for i in items_of(state, sub)
    ]
    next_items = [
        dict(i, price=price["id"], quantity=quantity) if iid == item["id"] else i
        for iid, i in zip(sub["_items"], now_items, strict=True)
    ]
    phases = [
        schedules.phase_from_items(state, now_items, start, end),
        schedules.phase_from_items(
            state, next_items, end, period_end(end, price["recurring"], end), proration_behavior="none"
        ),
    ]
    schedules.set_phases(state, schedule, phases, "release")


def _drop_schedule(state: State, sub: Record) -> None:
    schedule = state.find(sub.get("schedule") or "", "subscription_schedule")
    if schedule is not None and schedule.get("_portal") and schedule["status"] in ("active", "not_started"):
        schedules.release(state, schedule, state.now_for(sub))


def keep_current_plan(state: State, sub: Record) -> str:
    """Drop a change the portal scheduled for the period end."""
    if scheduled_change(state, sub) is None:
        raise PortalError("There is no scheduled change to cancel.")
    schedule = state.get(sub["schedule"], "subscription_schedule")
    if not schedule.get("_portal"):
        raise PortalError("This subscription's schedule is managed elsewhere.")
    _drop_schedule(state, sub)
    return "kept"


# ----- cancel and renew ---------------------------------------------------------------------------
def cancel(state: State, config: Record, sub: Record, *, reason: str | None, comment: str | None) -> str:
    feature = config["features"]["subscription_cancel"]
    if not can_cancel(config, sub):
        raise PortalError("This subscription can't be canceled here.")
    options = feature["cancellation_reason"]["options"] if feature["cancellation_reason"]["enabled"] else []
    if reason and reason not in options:
        raise PortalError("Choose one of the reasons listed.", "reason")
    details = {k: v for k, v in (("feedback", reason), ("comment", comment)) if v}
    from stripesim.resources.subscriptions import cancel_subscription, update_subscription

    _drop_schedule(state, sub)
    if feature["mode"] == "immediately":
        data: dict[str, Any] = {
            "prorate": str(feature["proration_behavior"] != "none").lower(),
            "invoice_now": str(feature["proration_behavior"] == "always_invoice").lower(),
        }
        if details:
            data["cancellation_details"] = details
        call_api(state, cancel_subscription, f"/v1/subscriptions/{sub['id']}", data, sub=sub["id"])
        return "canceled"
    data = {"cancel_at_period_end": "true"}
    if details:
        data["cancellation_details"] = details
    call_api(state, update_subscription, f"/v1/subscriptions/{sub['id']}", data, sub=sub["id"])
    return "cancel_scheduled"


def renew(state: State, sub: Record) -> str:
    """Undo a cancellation that has not happened yet."""
    if sub["status"] in ("canceled", "incomplete_expired") or not (sub["cancel_at_period_end"] or sub.get("cancel_at")):
        raise PortalError("This subscription isn't set to cancel.")
    from stripesim.resources.subscriptions import update_subscription

    data = {"cancel_at_period_end": "false"} if sub["cancel_at_period_end"] else {"cancel_at": ""}
    call_api(state, update_subscription, f"/v1/subscriptions/{sub['id']}", data, sub=sub["id"])
    return "renewed"


# ----- payment method and customer details --------------------------------------------------------
def update_card(
    state: State, customer: Record, *, number: str, exp_month: int, exp_year: int, name: str | None
) -> Record:
    """Save a card as the customer's default, and the default of their live subscriptions."""
    card = card_for(number)
    if card is None:
        raise PortalError("Your card number is incorrect.", "card_number")
    if card.behaviour == "decline":
        raise PortalError(card.message, "card")
    pm = pms.create_card(
        state, number, exp_month=exp_month, exp_year=exp_year, billing_name=name, billing_email=customer.get("email")
    )
    pms.attach(state, pm, customer)
    from stripesim.resources.customers import update_customer
    from stripesim.resources.subscriptions import update_subscription

    call_api(
        state,
        update_customer,
        f"/v1/customers/{customer['id']}",
        {"invoice_settings": {"default_payment_method": pm["id"]}},
        customer=customer["id"],
    )
    for sub in live_subscriptions(state, customer):
        if sub.get("default_payment_method") != pm["id"]:
            call_api(
                state,
                update_subscription,
                f"/v1/subscriptions/{sub['id']}",
                {"default_payment_method": pm["id"]},
                sub=sub["id"],
            )
    return pm


def editable_fields(config: Record) -> list[str]:
    feature = config["features"]["customer_update"]
    return [f for f in ("name", "email") if feature["enabled"] and f in feature["allowed_updates"]]


def update_customer(state: State, config: Record, customer: Record, values: dict[str, str]) -> str:
    allowed = editable_fields(config)
    if not allowed:
        raise PortalError("Billing information can't be changed here.")
    data = {k: values.get(k, "").strip() for k in allowed}
    if "email" in data and not EMAIL.match(data["email"]):
        raise PortalError("Enter a valid email address.", "email")
    from stripesim.resources.customers import update_customer as api_update

    call_api(state, api_update, f"/v1/customers/{customer['id']}", data, customer=customer["id"])
    return "customer"


def default_card(state: State, customer: Record) -> Record | None:
    pm = pms.default_for(state, customer)
    if pm is None:
        for sub in live_subscriptions(state, customer):
            pm = pms.default_for(state, None, sub)
            if pm is not None:
                break
    return pm
