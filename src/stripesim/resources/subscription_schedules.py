"""Subscription schedules: /v1/subscription_schedules."""

from __future__ import annotations

from typing import Any

from stripesim.billing import schedules, subscriptions
from stripesim.billing.cancellation import cancel_now
from stripesim.billing.periods import add_interval
from stripesim.billing.prorations import credit_unused_time
from stripesim.billing.subscription_items import ItemSpec
from stripesim.errors import InvalidRequest
from stripesim.present import paginate
from stripesim.resources._common import apply_metadata
from stripesim.resources._item_params import proration_behavior
from stripesim.routes import Ctx, api
from stripesim.state import Record, State
from stripesim.wire import Params


def _phases(state: State, p: Params, first_start: int | None) -> list[dict[str, Any]]:
    out = []
    start = first_start
    for i, phase in enumerate(p.list_of("phases", required=True)):
        phase.only(
            "items",
            "start_date",
            "end_date",
            "iterations",
            "duration",
            "proration_behavior",
            "metadata",
            "trial_end",
            "trial",
            "billing_cycle_anchor",
            "default_payment_method",
            "discounts",
            "automatic_tax",
            "collection_method",
            "description",
            "default_tax_rates",
            "currency",
        )
        items: list[dict[str, Any]] = []
        for j, item in enumerate(phase.list_of("items", required=True)):
            item.only("price", "quantity", "metadata", "tax_rates", "discounts", "price_data", "plan")
            price_id = item.str("price", required=True) or ""
            price = state.get(price_id, "price", f"phases[{i}][items][{j}][price]")
            if price.get("type") != "recurring":
                raise InvalidRequest(
                    "Schedule phase items need recurring prices.", param=f"phases[{i}][items][{j}][price]"
                )
            items.append(
                {
                    "price": price_id,
                    "quantity": item.int("quantity", minimum=0, default=1),
                    "metadata": item.metadata() or {},
                }
            )
        start_raw = phase.timestamp_or("start_date", "now")
        explicit = None if i > 0 or start_raw is None else (state.now() if start_raw == "now" else int(start_raw))
        phase_start = start if explicit is None else explicit
        end = phase.int("end_date")
        duration = phase.sub("duration")
        # A phase always ends: without end_date or duration it lasts `iterations` (1) periods.
        if end is None and duration is None and phase_start is not None:
            recurring = state.get(items[0]["price"], "price")["recurring"]
            cursor = phase_start
            for _ in range(phase.int("iterations", minimum=1) or 1):
                cursor = add_interval(cursor, recurring["interval"], recurring.get("interval_count") or 1)
            end = cursor
        if end is None and duration is not None and phase_start is not None:
            end = add_interval(
                phase_start,
                duration.str("interval", required=True, choices=("day", "week", "month", "year")) or "month",
                duration.int("interval_count", minimum=1, default=1) or 1,
            )
        out.append(
            schedules.phase_from_items(
                state,
                items,
                phase_start or 0,
                end,
                proration_behavior=proration_behavior(phase),
                metadata=phase.metadata() or {},
            )
        )
        start = end
    return out


@api("POST", "/v1/subscription_schedules")
def create_schedule(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "from_subscription",
        "customer",
        "phases",
        "start_date",
        "end_behavior",
        "metadata",
        "default_settings",
        "billing_mode",
    )
    state = ctx.state
    sub_id = p.str("from_subscription")
    if sub_id:
        if p.has("phases") or p.has("customer"):
            raise InvalidRequest(
                "You cannot set `phases` or `customer` if `from_subscription` is set.", param="from_subscription"
            )
        schedule = schedules.from_subscription(state, state.get(sub_id, "subscription", "from_subscription"))
        apply_metadata(schedule, p)
        return schedule
    customer = state.get(p.str("customer", required=True) or "", "customer", "customer")
    start = p.timestamp_or("start_date", "now")
    now = state.now_for(customer)
    if start not in (None, "now") and start != now:
        raise InvalidRequest("stripesim starts customer schedules now (start_date=now).", param="start_date")
    phases = _phases(state, p, now)
    first = phases[0]
    specs = [ItemSpec(state.get(i["price"], "price"), i["quantity"], i["metadata"]) for i in first["items"]]
    sub = subscriptions.create_subscription(state, customer, specs)
    schedule = schedules.from_subscription(state, sub)
    phases[0]["start_date"] = schedule["phases"][0]["start_date"]
    schedules.set_phases(state, schedule, phases, p.str("end_behavior", choices=("release", "cancel")))
    apply_metadata(schedule, p)
    return schedule


@api("GET", "/v1/subscription_schedules/{schedule}")
def retrieve_schedule(ctx: Ctx, schedule: str) -> Record:
    return ctx.state.get(schedule, "subscription_schedule")


@api("POST", "/v1/subscription_schedules/{schedule}")
def update_schedule(ctx: Ctx, schedule: str) -> Record:
    p = ctx.params.only("phases", "end_behavior", "metadata", "proration_behavior", "default_settings")
    state = ctx.state
    record = state.get(schedule, "subscription_schedule")
    if p.has("phases"):
        first_start = record["current_phase"]["start_date"] if record["current_phase"] else None
        phases = _phases(state, p, first_start)
        schedules.set_phases(state, record, phases, p.str("end_behavior", choices=("release", "cancel")))
    elif p.has("end_behavior"):
        with state.changing(record):
            record["end_behavior"] = p.str("end_behavior", choices=("release", "cancel"))
    if p.has("metadata"):
        with state.changing(record):
            apply_metadata(record, p)
    return record


@api("POST", "/v1/subscription_schedules/{schedule}/release")
def release_schedule(ctx: Ctx, schedule: str) -> Record:
    ctx.params.only("preserve_cancel_date")
    record = ctx.state.get(schedule, "subscription_schedule")
    return schedules.release(ctx.state, record, ctx.state.now_for(record))


@api("POST", "/v1/subscription_schedules/{schedule}/cancel")
def cancel_schedule(ctx: Ctx, schedule: str) -> Record:
    p = ctx.params.only("invoice_now", "prorate")
    state = ctx.state
    record = state.get(schedule, "subscription_schedule")
    if record["status"] not in ("active", "not_started"):
        raise InvalidRequest(f"You cannot cancel a subscription schedule that is {record['status']}.")
    sub = state.find(record.get("subscription"), "subscription")
    now = state.now_for(record)
    if sub is not None:
        if p.bool("prorate", default=True):
            credit_unused_time(state, sub, now)
        cancel_now(state, sub, now)
    if record["status"] != "canceled":
        schedules.mark_canceled(state, record, now)
    return record


@api("GET", "/v1/subscription_schedules")
def list_schedules(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "limit",
        "starting_after",
        "ending_before",
        "scheduled",
        "created",
        "canceled_at",
        "completed_at",
        "released_at",
    )
    records = list(ctx.state.all("subscription_schedule"))
    customer = p.str("customer")
    if customer:
        records = [r for r in records if r["customer"] == customer]
    return paginate(records, p, "/v1/subscription_schedules")
