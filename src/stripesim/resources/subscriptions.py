"""Subscriptions: /v1/subscriptions. The handlers read parameters; billing does the work."""

from __future__ import annotations

from stripesim.billing import cancellation, pausing, subscriptions
from stripesim.billing.cancellation import ENDED
from stripesim.billing.discounts import redeem, remove_discount
from stripesim.billing.subscription_items import ItemSpec, items_of
from stripesim.billing.subscription_updates import SubscriptionUpdate, refuse_update
from stripesim.billing.subscription_updates import update_subscription as update_subscription_now
from stripesim.errors import InvalidRequest
from stripesim.ids import new_id
from stripesim.present import Keep, list_page
from stripesim.resources._common import created_match, equal_match, every
from stripesim.resources._item_params import item_changes, item_specs, payment_behavior, proration_behavior
from stripesim.resources._search import search
from stripesim.routes import Ctx, api
from stripesim.state import Record, State
from stripesim.wire import Params


def trial_end_param(ctx: Ctx, p: Params, customer: Record, specs: list[ItemSpec]) -> int | None:
    now = ctx.state.now_for(customer)
    trial_end = p.timestamp_or("trial_end", "now")
    if trial_end == "now":
        return None
    if isinstance(trial_end, int):
        if trial_end <= now:
            raise InvalidRequest(
                "Invalid timestamp: must be an integer Unix timestamp in the future.", param="trial_end"
            )
        return trial_end
    days = p.int("trial_period_days", minimum=0, maximum=730)
    if days is None and p.bool("trial_from_plan"):
        days = (specs[0].price["recurring"] or {}).get("trial_period_days")
    return now + days * 86400 if days else None


_CREATE = (
    "customer",
    "items",
    "payment_behavior",
    "default_payment_method",
    "trial_end",
    "trial_period_days",
    "trial_from_plan",
    "collection_method",
    "days_until_due",
    "metadata",
    "description",
    "cancel_at_period_end",
    "cancel_at",
    "discounts",
    "automatic_tax",
    "default_tax_rates",
    "proration_behavior",
    "billing_cycle_anchor",
    "off_session",
    "payment_settings",
    "trial_settings",
    "billing_mode",
    "currency",
    "backdate_start_date",
    "add_invoice_items",
    "pending_invoice_item_interval",
)


@api("POST", "/v1/subscriptions")
def create_subscription(ctx: Ctx) -> Record:
    p = ctx.params.only(*_CREATE)
    state = ctx.state
    customer = state.get(p.str("customer", required=True) or "", "customer", "customer")
    specs = item_specs(state, p)
    pm_id = p.str("default_payment_method")
    if pm_id:
        pm = state.get(pm_id, "payment_method", "default_payment_method")
        if pm.get("customer") != customer["id"]:
            raise InvalidRequest("The payment method must be attached to the customer.", param="default_payment_method")
    collection = (
        p.str("collection_method", choices=("charge_automatically", "send_invoice"), default="charge_automatically")
        or "charge_automatically"
    )
    if collection == "send_invoice" and p.int("days_until_due") is None:
        raise InvalidRequest(
            "Missing required param: days_until_due.", param="days_until_due", code="parameter_missing"
        )
    behavior = payment_behavior(p)
    if behavior == "pending_if_incomplete":
        raise InvalidRequest("payment_behavior=pending_if_incomplete is only for updates.", param="payment_behavior")
    automatic = p.sub("automatic_tax")
    trial_settings = p.sub("trial_settings")
    missing_pm = "create_invoice"
    if trial_settings is not None:
        end = trial_settings.sub("end_behavior")
        if end is not None:
            missing_pm = end.str("missing_payment_method", choices=("cancel", "create_invoice", "pause")) or missing_pm
    tax_rates = p.strings("default_tax_rates")
    for i, rate in enumerate(tax_rates):
        state.get(rate, "tax_rate", f"default_tax_rates[{i}]")
    sub_id = new_id("sub")
    return subscriptions.create_subscription(
        state,
        customer,
        specs,
        subscription_id=sub_id,
        payment_behavior=behavior,
        default_payment_method=pm_id,
        trial_end=trial_end_param(ctx, p, customer, specs),
        collection_method=collection,
        days_until_due=p.int("days_until_due"),
        metadata=p.metadata() or {},
        description=p.str("description"),
        cancel_at_period_end=bool(p.bool("cancel_at_period_end")),
        cancel_at=p.int("cancel_at"),
        discount_ids=redeem(
            state,
            p.list_of("discounts"),
            customer=customer,
            product_ids=[s.price["product"] for s in specs],
            subscription=sub_id,
        ),
        automatic_tax=bool(automatic.bool("enabled")) if automatic else False,
        default_tax_rates=tax_rates,
        missing_payment_method=missing_pm,
        announce_incomplete=behavior == "default_incomplete",
    )


@api("GET", "/v1/subscriptions/{sub}")
def retrieve_subscription(ctx: Ctx, sub: str) -> Record:
    return ctx.state.get(sub, "subscription")


_UPDATE = (
    "items",
    "proration_behavior",
    "proration_date",
    "payment_behavior",
    "billing_cycle_anchor",
    "cancel_at_period_end",
    "cancel_at",
    "trial_end",
    "trial_from_plan",
    "default_payment_method",
    "metadata",
    "description",
    "discounts",
    "automatic_tax",
    "pause_collection",
    "collection_method",
    "days_until_due",
    "default_tax_rates",
    "off_session",
    "cancellation_details",
    "payment_settings",
    "trial_settings",
    "billing_thresholds",
)


@api("POST", "/v1/subscriptions/{sub}")
def update_subscription(ctx: Ctx, sub: str) -> Record:
    p = ctx.params.only(*_UPDATE)
    state = ctx.state
    record = state.get(sub, "subscription")
    if record["status"] in ENDED:
        allowed = {"metadata", "cancellation_details"}
        extra = sorted(set(p.data) - allowed)
        if extra:
            raise InvalidRequest(
                "A canceled subscription can only update its cancellation_details and metadata.",
                param=extra[0],
            )
    update = SubscriptionUpdate(
        proration_behavior=proration_behavior(p),
        payment_behavior=payment_behavior(p),
        proration_date=p.int("proration_date"),
        anchor_now=_anchor_now(p),
    )
    refuse_update(
        record,
        changes_items=p.has("items"),
        changes_cancellation=p.has("cancel_at_period_end") or p.has("cancel_at"),
    )
    if update.payment_behavior == "pending_if_incomplete":
        extra = sorted(set(p.data) - _WITH_PENDING_IF_INCOMPLETE)
        if extra:
            raise InvalidRequest(
                f"payment_behavior=pending_if_incomplete cannot be combined with {extra[0]}.",
                param=extra[0],
            )
    if p.has("items") or update.anchor_now:
        update.items = item_changes(state, p)
    _read_fields(p, update)
    return update_subscription_now(state, record, update)


_WITH_PENDING_IF_INCOMPLETE = {
    "items",
    "proration_behavior",
    "proration_date",
    "payment_behavior",
    "billing_cycle_anchor",
    "trial_end",
    "trial_from_plan",
    "off_session",
    "expand",
}


def _anchor_now(p: Params) -> bool:
    anchor = p.sub("billing_cycle_anchor")
    if anchor is not None:
        return anchor.str("type", required=True, choices=("now", "unchanged")) == "now"
    if p.raw("billing_cycle_anchor") is not None:
        raise InvalidRequest(
            'billing_cycle_anchor is an object on update: {"type": "now"|"unchanged"}.', param="billing_cycle_anchor"
        )
    return False


def _read_fields(p: Params, update: SubscriptionUpdate) -> None:
    """Every field but the items, in the order Stripe reads them."""
    if p.has("cancel_at_period_end"):
        update.cancel_at_period_end = bool(p.bool("cancel_at_period_end"))
    if p.has("cancel_at"):
        update.cancel_at = p.int("cancel_at") if not p.is_unset("cancel_at") else None
    details = p.sub("cancellation_details")
    if details is not None:
        details.only("comment", "feedback")
        update.cancellation_details = {k: details.str(k) for k in ("comment", "feedback") if details.has(k)}
    if p.has("default_payment_method"):
        update.default_payment_method = p.str("default_payment_method")
    if p.has("description"):
        update.description = p.str("description")
    update.metadata = p.metadata()
    automatic = p.sub("automatic_tax")
    if automatic is not None:
        update.automatic_tax = bool(automatic.bool("enabled"))
    if p.has("pause_collection"):
        pause = p.sub("pause_collection")
        if pause is None:
            update.pause_collection = None
        else:
            pause.only("behavior", "resumes_at")
            update.pause_collection = {
                "behavior": pause.str(
                    "behavior", required=True, choices=("keep_as_draft", "mark_uncollectible", "void")
                ),
                "resumes_at": pause.int("resumes_at"),
            }
    if p.has("trial_end"):
        trial_end = p.timestamp_or("trial_end", "now")
        update.trial_end = "now" if isinstance(trial_end, str) else trial_end
    if p.has("discounts"):
        update.discounts = p.list_of("discounts")
    if p.has("collection_method"):
        update.collection_method = p.str("collection_method", choices=("charge_automatically", "send_invoice"))
    if p.has("days_until_due"):
        update.days_until_due = p.int("days_until_due")
    if p.has("default_tax_rates"):
        update.default_tax_rates = p.strings("default_tax_rates")


@api("DELETE", "/v1/subscriptions/{sub}")
def cancel_subscription(ctx: Ctx, sub: str) -> Record:
    p = ctx.params.only("invoice_now", "prorate", "cancellation_details")
    record = ctx.state.get(sub, "subscription")
    details = p.sub("cancellation_details")
    return cancellation.cancel_subscription(
        ctx.state,
        record,
        prorate=bool(p.bool("prorate")),
        invoice_now=bool(p.bool("invoice_now")),
        comment=details.str("comment") if details else None,
        feedback=details.str("feedback") if details else None,
    )


@api("POST", "/v1/subscriptions/{sub}/pause")
def pause_subscription(ctx: Ctx, sub: str) -> Record:
    p = ctx.params.only("bill_for", "invoicing_behavior", "type")
    record = ctx.state.get(sub, "subscription")
    credit = True
    bill_for = p.sub("bill_for")
    if bill_for is not None:
        unused = bill_for.sub("unused_time_from")
        if unused is not None and unused.str("type") == "none":
            credit = False
    return pausing.pause(ctx.state, record, ctx.state.now_for(record), credit_unused=credit)


@api("POST", "/v1/subscriptions/{sub}/resume")
def resume_subscription(ctx: Ctx, sub: str) -> Record:
    p = ctx.params.only("billing_cycle_anchor", "payment_behavior", "proration_behavior", "proration_date")
    record = ctx.state.get(sub, "subscription")
    anchor_now = True
    if isinstance(p.raw("billing_cycle_anchor"), str):
        anchor_now = p.str("billing_cycle_anchor", choices=("now", "unchanged")) == "now"
    elif (anchor := p.sub("billing_cycle_anchor")) is not None:
        anchor_now = anchor.str("type", choices=("now", "unchanged"), default="now") == "now"
    behavior = p.str(
        "payment_behavior",
        choices=("resume_on_payment_attempt", "resume_on_payment_success"),
        default="resume_on_payment_attempt",
    )
    return pausing.resume(
        ctx.state,
        record,
        ctx.state.now_for(record),
        anchor_now=anchor_now,
        proration_behavior=proration_behavior(p),
        on_success_only=behavior == "resume_on_payment_success",
    )


@api("DELETE", "/v1/subscriptions/{sub}/discount")
def delete_subscription_discount(ctx: Ctx, sub: str) -> Record:
    record = ctx.state.get(sub, "subscription")
    if not record["discounts"]:
        raise InvalidRequest("This subscription has no discount to delete.", param="subscription")
    with ctx.state.changing(record):
        removed = record["discounts"]
        record["discounts"] = []
    return remove_discount(ctx.state, ctx.state.get(removed[0], "discount"))


@api("GET", "/v1/subscriptions")
def list_subscriptions(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "status",
        "price",
        "test_clock",
        "limit",
        "starting_after",
        "ending_before",
        "created",
        "collection_method",
        "automatic_tax",
        "current_period_end",
    )
    state = ctx.state
    keep = every(
        _status_match(p.str("status")),
        equal_match(p, "customer", "test_clock", "collection_method"),
        _price_match(state, p.str("price")),
        created_match(p),
    )
    return list_page(state, "subscription", p, "/v1/subscriptions", keep)


def _status_match(status: str | None) -> Keep | None:
    """The list's `status`: every one but canceled by default, `ended`, or `all`."""
    if status is None:
        return lambda r: r["status"] != "canceled"
    if status == "ended":
        return lambda r: r["status"] in ENDED
    if status == "all":
        return None
    return lambda r: r["status"] == status


def _price_match(state: State, price: str | None) -> Keep | None:
    if not price:
        return None
    return lambda r: any(i["price"] == price for i in items_of(state, r))


@api("GET", "/v1/subscriptions/search")
def search_subscriptions(ctx: Ctx) -> Record:
    return search(ctx, "subscription")
