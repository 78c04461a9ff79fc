"""Invoice previews: POST /v1/invoices/create_preview, for a change, a cancellation, a schedule's next
phase or a new subscription; nothing is stored or redeemed."""

from __future__ import annotations

from typing import Any

from stripesim.billing import previews
from stripesim.billing.change_plans import ItemChange
from stripesim.billing.discounts import build_discount
from stripesim.billing.redemption import resolve_discounts
from stripesim.billing.subscription_items import items_of, period_of
from stripesim.errors import InvalidRequest
from stripesim.resources._item_params import item_changes, item_specs, proration_behavior
from stripesim.routes import Ctx, api
from stripesim.state import Record, State
from stripesim.wire import Params


@api("POST", "/v1/invoices/create_preview")
def create_preview(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "subscription",
        "subscription_details",
        "automatic_tax",
        "discounts",
        "currency",
        "schedule",
        "schedule_details",
        "preview_mode",
        "invoice_items",
        "customer_details",
        "on_behalf_of",
        "issuer",
    )
    state = ctx.state
    sub = None
    sub_id = p.str("subscription")
    if sub_id:
        sub = state.get(sub_id, "subscription", "subscription")
    elif p.str("schedule"):
        schedule = state.get(p.str("schedule") or "", "subscription_schedule", "schedule")
        sub = state.find(schedule.get("subscription"), "subscription")
        sub_id = sub["id"] if sub else None
    customer_id = p.str("customer") or (sub["customer"] if sub else None)
    if not customer_id:
        raise InvalidRequest("Missing required param: customer.", param="customer", code="parameter_missing")
    customer = state.get(customer_id, "customer", "customer")
    if sub is not None and sub["customer"] != customer["id"]:
        raise InvalidRequest("The subscription does not belong to this customer.", param="subscription")
    details = p.sub("subscription_details")
    if sub is None and (details is None or not details.has("items")):
        # Stripe previews the next upcoming invoice among the customer's subscriptions.
        sub = _next_to_renew(state, customer)
        sub_id = sub["id"]
    now = state.now_for(customer)
    proration = "create_prorations"
    at = now
    anchor_now = False
    cancel_flag = None
    changes_list: list[ItemChange] = []
    new_specs = None
    if details is not None:
        details.only(
            "items",
            "proration_behavior",
            "proration_date",
            "billing_cycle_anchor",
            "cancel_at_period_end",
            "cancel_at",
            "cancel_now",
            "trial_end",
            "default_tax_rates",
            "resume_at",
            "start_date",
        )
        proration = proration_behavior(details, default=proration)
        at = details.int("proration_date") or now
        anchor = details.raw("billing_cycle_anchor")
        anchor_now = anchor == "now" or (isinstance(anchor, dict) and anchor.get("type") == "now")
        cancel_flag = details.bool("cancel_at_period_end")
        if sub is not None:
            changes_list = item_changes(state, details)
        elif details.has("items"):
            new_specs = item_specs(state, details)
    if sub is None and new_specs is None:
        raise InvalidRequest(
            "Provide a subscription, or subscription_details[items] to preview a new one.", param="subscription"
        )
    automatic = p.sub("automatic_tax")
    previewed: list[Record] = []
    if p.has("discounts"):
        # A preview redeems nothing: the discounts exist only while the invoice is computed.
        resolved = resolve_discounts(
            state, p.list_of("discounts"), customer=customer, amount_subtotal=None, product_ids=[], param="discounts"
        )
        previewed = [
            build_discount(
                state,
                spec,
                customer=customer["id"],
                subscription=sub_id,
                invoice=None,
                checkout_session=None,
                start=now,
            )
            for spec in resolved
        ]
    discount_ids = [d["id"] for d in previewed] if p.has("discounts") else None
    if sub is not None and details is not None and details.bool("cancel_now"):
        return previews.preview_cancel_now(state, customer, sub, at=at, prorate=proration != "none")
    schedule_items = _schedule_items(ctx, p, sub)
    if schedule_items is not None:
        assert sub is not None
        changes_list = [ItemChange(item_id=i["id"], deleted=True) for i in items_of(state, sub)]
        changes_list += schedule_items
        proration = "none"
    with state.transient(previewed):
        return previews.preview(
            state,
            customer,
            sub,
            changes_list,
            proration_behavior=proration,
            at=at,
            anchor_now=anchor_now,
            cancel_at_period_end=cancel_flag,
            automatic_tax=bool(automatic.bool("enabled")) if automatic else None,
            discount_ids=discount_ids,
            new_specs=new_specs,
        )


def _schedule_items(ctx: Ctx, p: Params, sub: Record | None) -> list[ItemChange] | None:
    """The items of the schedule phase that covers the next renewal (`schedule` or `schedule_details`)."""
    if not p.has("schedule") and not p.has("schedule_details"):
        return None
    state = ctx.state
    if sub is None:
        schedule_id = p.str("schedule")
        schedule = state.get(schedule_id or "", "subscription_schedule", "schedule")
        sub = state.find(schedule.get("subscription"), "subscription")
        if sub is None:
            raise InvalidRequest("This schedule has no subscription to preview.", param="schedule")
    phases: list[dict[str, Any]]
    details = p.sub("schedule_details")
    if details is not None and details.has("phases"):
        phases = []
        for i, phase in enumerate(details.list_of("phases")):
            items: list[dict[str, Any]] = []
            for j, item in enumerate(phase.list_of("items", required=True)):
                price = state.get(
                    item.str("price", required=True) or "", "price", f"schedule_details[phases][{i}][items][{j}][price]"
                )
                items.append({"price": price["id"], "quantity": item.int("quantity", minimum=0, default=1)})
            phases.append({"start_date": phase.int("start_date"), "end_date": phase.int("end_date"), "items": items})
    else:
        schedule = state.get(p.str("schedule") or sub.get("schedule") or "", "subscription_schedule", "schedule")
        phases = schedule["phases"]
    renewal = period_of(sub)[1]
    covering = [
        ph for ph in phases if (ph.get("start_date") or 0) <= renewal and (ph.get("end_date") or renewal + 1) > renewal
    ]
    if not covering:
        return []
    return [
        ItemChange(price=state.get(item["price"], "price"), quantity=item.get("quantity"))
        for item in covering[-1]["items"]
    ]


def _next_to_renew(state: State, customer: Record) -> Record:
    renewing = [
        s
        for s in state.where("subscription", customer=customer["id"])
        if s["status"] in ("active", "trialing", "past_due", "unpaid") and not s.get("pause_collection")
    ]
    if not renewing:
        raise InvalidRequest(
            f"No upcoming invoices for customer: {customer['id']}", param="customer", code="invoice_upcoming_none"
        )
    return min(renewing, key=lambda s: s["_period_end"])
