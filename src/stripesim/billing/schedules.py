"""Subscription schedules: phases applied at their start, then release or cancel, and the
schedule ending with its subscription."""

from __future__ import annotations

from typing import Any

from stripesim.billing import cancellation
from stripesim.billing.change_plans import ItemChange
from stripesim.billing.changes import change_items
from stripesim.billing.subscription_items import is_metered, items_of, period_of, plan_of
from stripesim.engine import timer
from stripesim.errors import InvalidRequest
from stripesim.shapes import new_record
from stripesim.state import Record, State, renderer


def phase_from_items(
    state: State,
    items: list[dict[str, Any]],
    start: int,
    end: int | None,
    proration_behavior: str = "create_prorations",
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": state.get(items[0]["price"], "price")["currency"] if items else "usd",
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": [
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": dict(i.get("metadata") or {}),
                "price": i["price"],
                "quantity": i.get("quantity"),
                "tax_rates": [],
            }
            for i in items
        ],
        "metadata": dict(metadata or {}),
        "on_behalf_of": None,
        "proration_behavior": proration_behavior,
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def from_subscription(state: State, sub: Record) -> Record:
    if sub.get("schedule"):
        raise InvalidRequest(
            f"You cannot migrate a subscription that is already attached to a schedule: `{sub['schedule']}`.",
            param="from_subscription",
        )
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequest("A canceled subscription cannot be attached to a schedule.", param="from_subscription")
    start, end = period_of(sub)
    phase = phase_from_items(
        state,
        [{"price": i["price"], "quantity": i["quantity"], "metadata": i["metadata"]} for i in items_of(state, sub)],
        start,
        end,
    )
    schedule = new_record(
        "subscription_schedule",
        "sub_sched",
        created=state.now_for(sub),
        application=None,
        billing_mode={
            "flexible": {"proration_discounts": "included"},
            "type": "flexible",
            "updated_at": state.now_for(sub),
        },
        canceled_at=None,
        completed_at=None,
        current_phase={"end_date": end, "start_date": start},
        customer=sub["customer"],
        customer_account=None,
        end_behavior="release",
        phases=[phase],
        released_at=None,
        released_subscription=None,
        status="active",
        subscription=sub["id"],
        test_clock=sub.get("test_clock"),
    )
    schedule["default_settings"] = {
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": "automatic",
        "billing_thresholds": None,
        "collection_method": sub["collection_method"],
        "default_payment_method": sub.get("default_payment_method"),
        "description": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "days_until_due": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "on_behalf_of": None,
        "transfer_data": None,
    }
    state.insert(schedule)
    state.emit("subscription_schedule.created", schedule)
    with state.changing(sub):
        sub["schedule"] = schedule["id"]
    return schedule


def set_phases(state: State, schedule: Record, phases: list[dict[str, Any]], end_behavior: str | None) -> None:
    if schedule["status"] not in ("active", "not_started"):
        raise InvalidRequest(
            f"You cannot update a subscription schedule that is currently in the `{schedule['status']}` status. "
            "It must be in `not_started` or `active`.",
            param="phases",
        )
    current_start = schedule["current_phase"]["start_date"] if schedule["current_phase"] else None
    if phases and current_start is not None and phases[0]["start_date"] != current_start:
        raise InvalidRequest(
            "You can not modify the start date of the current phase.",
            param="phases[0][start_date]",
        )
    for i in range(len(phases) - 1):
        if phases[i]["end_date"] is None:
            raise InvalidRequest("Every phase but the last needs an end_date.", param=f"phases[{i}][end_date]")
        phases[i + 1]["start_date"] = phases[i]["end_date"]
    with state.changing(schedule):
        schedule["phases"] = phases
        if end_behavior:
            schedule["end_behavior"] = end_behavior
        if schedule["current_phase"] is not None and phases:
            schedule["current_phase"]["end_date"] = phases[0]["end_date"]


def release(state: State, schedule: Record, at: int) -> Record:
    if schedule["status"] not in ("active", "not_started"):
        raise InvalidRequest(
            f"You cannot release a subscription schedule that is currently in the `{schedule['status']}` status.",
        )
    sub = state.find(schedule.get("subscription"), "subscription")
    with state.changing(schedule, "subscription_schedule.released"):
        schedule["status"] = "released"
        schedule["released_at"] = at
        schedule["released_subscription"] = schedule["subscription"]
        schedule["current_phase"] = None
        schedule["subscription"] = None
    if sub is not None:
        with state.changing(sub):
            sub["schedule"] = None
    return schedule


def mark_canceled(state: State, schedule: Record, at: int) -> None:
    with state.changing(schedule, "subscription_schedule.canceled"):
        schedule["status"] = "canceled"
        schedule["canceled_at"] = at
        schedule["current_phase"] = None


def _end_with_subscription(state: State, sub: Record, at: int) -> None:
    """A subscription canceled while its schedule still runs takes the schedule with it."""
    schedule = state.find(sub.get("schedule"), "subscription_schedule")
    if schedule is not None and schedule["status"] in ("active", "not_started"):
        mark_canceled(state, schedule, at)


cancellation.ON_CANCELED.append(_end_with_subscription)


def _next_due(state: State, schedule: Record) -> int | None:
    if schedule["status"] != "active" or not schedule.get("current_phase"):
        return None
    return schedule["current_phase"]["end_date"]


@timer("subscription_schedule", _next_due, priority=10)
def advance_schedule(state: State, schedule: Record, at: int) -> None:
    sub = state.find(schedule.get("subscription"), "subscription")
    phases = schedule["phases"]
    index = next((i for i, p in enumerate(phases) if p["start_date"] == schedule["current_phase"]["start_date"]), 0)
    if index + 1 < len(phases) and sub is not None:
        nxt = phases[index + 1]
        with state.changing(sub):
            current = items_of(state, sub)
            keep_usage_of_dropped_meters(state, sub, current, nxt["items"], at)
            wanted = [ItemChange(item_id=i["id"], deleted=True) for i in current]
            wanted += [
                ItemChange(
                    price=state.get(i["price"], "price"),
                    quantity=i.get("quantity"),
                    metadata=dict(i.get("metadata") or {}),
                )
                for i in nxt["items"]
            ]
            change_items(
                state,
                sub,
                wanted,
                proration_behavior=nxt.get("proration_behavior") or "create_prorations",
                payment_behavior="allow_incomplete",
                at=at,
            )
        with state.changing(schedule):
            schedule["current_phase"] = {"start_date": nxt["start_date"], "end_date": nxt["end_date"]}
        return
    if schedule["end_behavior"] == "cancel" and sub is not None:
        with state.changing(schedule, "subscription_schedule.completed"):
            schedule["status"] = "completed"
            schedule["completed_at"] = at
            schedule["current_phase"] = None
        cancellation.cancel_now(state, sub, at)
        return
    release(state, schedule, at)


def keep_usage_of_dropped_meters(
    state: State, sub: Record, current: list[Record], next_items: list[dict[str, Any]], at: int
) -> None:
    """A phase dropping a metered price (a downgrade from a hybrid plan at the period end):
    the usage of the period so far is still billed, on the renewal (`renewals._bill_period`)."""
    next_meters = {(state.get(i["price"], "price").get("recurring") or {}).get("meter") for i in next_items}
    start, _ = period_of(sub)
    for item in current:
        price = state.get(item["price"], "price")
        if is_metered(price) and price["recurring"]["meter"] not in next_meters:
            due = {"price": price["id"], "item": item["id"], "start": start, "end": at}
            sub.setdefault("_usage_due", []).append(due)


@renderer("subscription_schedule")
def render_schedule(state: State, schedule: Record) -> Record:
    shown = dict(schedule)
    shown["phases"] = [
        {**phase, "items": [_phase_item(state, item) for item in phase["items"]]} for phase in schedule["phases"]
    ]
    return shown


def _phase_item(state: State, item: Record) -> Record:
    shown = {**item, "plan": plan_of(state.objects[item["price"]])["id"]}
    if shown.get("quantity") is None:
        shown.pop("quantity", None)  # a metered price has no quantity: Stripe leaves it out
    return shown
