"""What a customer may do in the portal, and doing it.

Each action is the billing operation behind the equivalent API request (`update_subscription`,
`cancel_subscription`, a customer's contact details and default card), so the objects and the
webhooks are exactly those of that request. A downgrade for the period end makes a schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stripesim.billing import payment_methods as pms
from stripesim.billing import portal_config as cfg
from stripesim.billing import previews, schedules
from stripesim.billing.cancellation import ENDED, cancel_subscription
from stripesim.billing.cards import card_for
from stripesim.billing.change_plans import ItemChange
from stripesim.billing.customers import EMAIL, update_contact
from stripesim.billing.periods import period_end
from stripesim.billing.pricing import amount_for
from stripesim.billing.subscription_items import ItemSpec, items_of, period_of
from stripesim.billing.subscription_updates import SubscriptionUpdate, update_subscription
from stripesim.billing.subscriptions import LIVE
from stripesim.errors import StripeError
from stripesim.state import Record, State
from stripesim.wire import MAX_STRING, Params

DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
PREVIEW_KEPT_S = 3600  # confirming within this long of a preview charges what it showed


class PortalError(Exception):
    """An action the portal refuses, with the message the customer sees (and the field)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class ItemPlan:
    """One item's change in the portal: checked against the configuration, not yet made."""

    item: Record
    current: Record  # the item's price now
    price: Record
    quantity: int

    def changes(self) -> bool:
        return self.price["id"] != self.current["id"] or self.quantity != self.item["quantity"]


@dataclass
class ChangePreview:
    """What confirming a change will charge or credit, from the invoice `invoices.create_preview`
    gives for the same items, proration behaviour and `proration_date`.

    `timing`: "now" (the invoice is charged, or credited, at once), "next_invoice" (the
    prorations, if any, wait for the next invoice, which `invoice` is) or "period_end" (the
    change is scheduled; nothing is charged before it starts). `starts_at`: when the new plan
    starts; `proration_date`: what confirming passes on, so the charge is the one shown."""

    timing: str
    invoice: Record
    starts_at: int
    proration_date: int


@dataclass
class QuantityRule:
    enabled: bool
    minimum: int = 1
    maximum: int | None = None


@contextmanager
def _refusal_shown() -> Iterator[None]:
    """What the API would refuse, the portal refuses with the same message."""
    try:
        yield
    except StripeError as err:
        raise PortalError(err.message) from err


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
    ended = sub["status"] in ENDED
    return (
        config["features"]["subscription_cancel"]["enabled"]
        and not ended
        and not sub["cancel_at_period_end"]
        and not sub.get("cancel_at")
    )


def scheduled_change(state: State, sub: Record) -> dict[str, Any] | None:
    """The next phase of a schedule the portal made for a change at the period end."""
    schedule = state.find(sub.get("schedule"), "subscription_schedule")
    if schedule is None or schedule["status"] != "active" or len(schedule["phases"]) < 2:
        return None
    return schedule["phases"][1]


def _per_day(price: Record, quantity: int) -> float:
    recurring = price.get("recurring") or {}
    days = DAYS.get(recurring.get("interval", "month"), 30) * int(recurring.get("interval_count") or 1)
    return amount_for(price, quantity) / days


def _interval_days(price: Record) -> int:
    recurring = price.get("recurring") or {}
    return DAYS.get(recurring.get("interval", "month"), 30) * int(recurring.get("interval_count") or 1)


def _at_period_end(config: Record, plans: list[ItemPlan]) -> bool:
    conditions = {c["type"] for c in config["features"]["subscription_update"]["schedule_at_period_end"]["conditions"]}
    old = sum(_per_day(p.current, p.item["quantity"] or 1) for p in plans)
    new = sum(_per_day(p.price, p.quantity) for p in plans)
    if "decreasing_item_amount" in conditions and new < old:
        return True
    return "shortening_interval" in conditions and any(
        _interval_days(p.price) < _interval_days(p.current) for p in plans
    )


def plan_item(
    state: State, config: Record, sub: Record, item_id: str, price_id: str | None, quantity: int | None
) -> ItemPlan:
    """Check a switch of an item's price and/or quantity against the configuration."""
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
    return ItemPlan(item=item, current=current, price=target, quantity=new_qty)


def change_item(
    state: State,
    config: Record,
    sub: Record,
    item_id: str,
    price_id: str | None,
    quantity: int | None,
    *,
    proration_date: int | None = None,
) -> str:
    """Switch an item's price and/or quantity (see `change_items`)."""
    plan = plan_item(state, config, sub, item_id, price_id, quantity)
    return change_items(state, config, sub, [plan], proration_date=proration_date)


def change_items(
    state: State, config: Record, sub: Record, plans: list[ItemPlan], *, proration_date: int | None
) -> str:
    """Make checked changes, in one update. Returns "updated", "scheduled", "unchanged" or
    "payment_failed" (the change waits as a pending update for its invoice to be paid).
    `proration_date`: the preview's, honoured for an hour, so the charge is the one shown."""
    plans = [p for p in plans if p.changes()]
    if not plans:
        return "unchanged"
    if _at_period_end(config, plans):
        _schedule(state, sub, plans)
        return "scheduled"
    now = state.now_for(sub)
    if proration_date is not None and not now - PREVIEW_KEPT_S <= proration_date <= now:
        proration_date = None
    update = _update_for(config, sub, plans)
    update.payment_behavior = "pending_if_incomplete"
    update.proration_date = proration_date
    _drop_schedule(state, sub)
    with _refusal_shown():
        update_subscription(state, sub, update)
    return "payment_failed" if sub.get("pending_update") else "updated"


def _update_for(config: Record, sub: Record, plans: list[ItemPlan]) -> SubscriptionUpdate:
    feature = config["features"]["subscription_update"]
    update = SubscriptionUpdate(
        items=[ItemChange(item_id=p.item["id"], price=p.price, quantity=p.quantity) for p in plans],
        proration_behavior=feature["proration_behavior"],
        anchor_now=feature.get("billing_cycle_anchor") == "now",
    )
    if sub["status"] == "trialing" and feature["trial_update_behavior"] == "end_trial":
        update.trial_end = "now"
    return update


def preview_change(state: State, config: Record, sub: Record, plans: list[ItemPlan]) -> ChangePreview | None:
    """What confirming `plans` will charge or credit (None if they change nothing): the
    invoice preview of the update `change_items` would make, as of now."""
    plans = [p for p in plans if p.changes()]
    if not plans:
        return None
    customer = state.get(sub["customer"], "customer")
    at = state.now_for(sub)
    end = period_of(sub)[1]
    if _at_period_end(config, plans):
        changes = [ItemChange(item_id=p.item["id"], price=p.price, quantity=p.quantity) for p in plans]
        invoice = previews.preview(state, customer, sub, changes, proration_behavior="none", at=at)
        return ChangePreview("period_end", invoice, end, at)
    update = _update_for(config, sub, plans)
    assert update.items is not None
    if update.trial_end == "now":
        # Ending the trial starts a paid period now, as a new subscription to the new items would.
        planned = {p.item["id"]: p for p in plans}
        specs = [
            ItemSpec(planned[i["id"]].price, planned[i["id"]].quantity)
            if i["id"] in planned
            else ItemSpec(state.get(i["price"], "price"), i["quantity"])
            for i in items_of(state, sub)
        ]
        invoice = previews.preview(
            state,
            customer,
            None,
            [],
            proration_behavior="none",
            at=at,
            automatic_tax=sub["automatic_tax"]["enabled"],
            discount_ids=list(sub.get("discounts") or []),
            new_specs=specs,
        )
        return ChangePreview("now", invoice, at, at)
    invoice = previews.preview(
        state,
        customer,
        sub,
        update.items,
        proration_behavior=update.proration_behavior,
        at=at,
        anchor_now=update.anchor_now,
    )
    timing = "now" if invoice["billing_reason"] == "subscription_update" else "next_invoice"
    return ChangePreview(timing, invoice, at, at)


def _schedule(state: State, sub: Record, plans: list[ItemPlan]) -> None:
    schedule = state.find(sub.get("schedule"), "subscription_schedule")
    if schedule is not None and not schedule.get("_portal"):
        raise PortalError("This subscription has scheduled changes and can't be updated here.")
    if schedule is None:
        schedule = schedules.from_subscription(state, sub)
        schedule["_portal"] = True
    start, end = period_of(sub)
    now_items = [
        {"price": i["price"], "quantity": i["quantity"], "metadata": i["metadata"]} for i in items_of(state, sub)
    ]
    planned = {p.item["id"]: p for p in plans}
    next_items = [
        dict(i, price=planned[iid].price["id"], quantity=planned[iid].quantity) if iid in planned else i
        for iid, i in zip(sub["_items"], now_items, strict=True)
    ]
    recurring = plans[0].price["recurring"]
    phases = [
        schedules.phase_from_items(state, now_items, start, end),
        schedules.phase_from_items(state, next_items, end, period_end(end, recurring, end), proration_behavior="none"),
    ]
    schedules.set_phases(state, schedule, phases, "release")


def _drop_schedule(state: State, sub: Record) -> None:
    schedule = state.find(sub.get("schedule"), "subscription_schedule")
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


def cancel(state: State, config: Record, sub: Record, *, reason: str | None, comment: str | None) -> str:
    feature = config["features"]["subscription_cancel"]
    if not can_cancel(config, sub):
        raise PortalError("This subscription can't be canceled here.")
    options = feature["cancellation_reason"]["options"] if feature["cancellation_reason"]["enabled"] else []
    if reason and reason not in options:
        raise PortalError("Choose one of the reasons listed.", "reason")
    _drop_schedule(state, sub)
    if feature["mode"] == "immediately":
        with _refusal_shown():
            cancel_subscription(
                state,
                sub,
                prorate=feature["proration_behavior"] != "none",
                invoice_now=feature["proration_behavior"] == "always_invoice",
                comment=comment or None,
                feedback=reason or None,
            )
        return "canceled"
    details: dict[str, str | None] = {k: v for k, v in (("feedback", reason), ("comment", comment)) if v}
    with _refusal_shown():
        update_subscription(state, sub, SubscriptionUpdate(cancel_at_period_end=True, cancellation_details=details))
    return "cancel_scheduled"


def renew(state: State, sub: Record) -> str:
    """Undo a cancellation that has not happened yet."""
    if sub["status"] in ENDED or not (sub["cancel_at_period_end"] or sub.get("cancel_at")):
        raise PortalError("This subscription isn't set to cancel.")
    if sub["cancel_at_period_end"]:
        update = SubscriptionUpdate(cancel_at_period_end=False)
    else:
        update = SubscriptionUpdate(cancel_at=None)
    with _refusal_shown():
        update_subscription(state, sub, update)
    return "renewed"


def accept_retention_offer(state: State, sub: Record, coupon_id: str) -> str:
    """Take the coupon a cancellation flow offered, and stay."""
    offer = SubscriptionUpdate(discounts=[Params({"coupon": coupon_id}, "discounts[0]")])
    with _refusal_shown():
        update_subscription(state, sub, offer)
    return "offer"


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
    pms.set_default(state, customer, pm)
    for sub in live_subscriptions(state, customer):
        if sub.get("default_payment_method") != pm["id"]:
            with _refusal_shown():
                update_subscription(state, sub, SubscriptionUpdate(default_payment_method=pm["id"]))
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
    for key, value in data.items():
        if len(value) > MAX_STRING:
            raise PortalError(f"Invalid {key}: must be at most {MAX_STRING} characters")
    update_contact(state, customer, data)
    return "customer"


def default_card(state: State, customer: Record) -> Record | None:
    pm = pms.default_for(state, customer)
    if pm is None:
        for sub in live_subscriptions(state, customer):
            pm = pms.default_for(state, None, sub)
            if pm is not None:
                break
    return pm


def card_on_file(state: State, customer: Record) -> tuple[Record | None, bool]:
    """The card the portal shows, and whether it is the default: the default one, else the
    newest card saved on the customer (a one-time payment saves one without making it default)."""
    pm = default_card(state, customer)
    if pm is not None:
        return pm, True
    saved = [p for p in state.where("payment_method", customer=customer["id"]) if p.get("type") == "card"]
    return (saved[-1] if saved else None), False
