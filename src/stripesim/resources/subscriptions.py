"""Subscriptions and their items: /v1/subscriptions, /v1/subscription_items."""

from __future__ import annotations

from stripesim.billing import changes, subscriptions
from stripesim.billing import payment_methods as pms
from stripesim.billing.subscriptions import ItemSpec
from stripesim.errors import InvalidRequest
from stripesim.ids import new_id
from stripesim.present import paginate
from stripesim.resources._common import apply_metadata, created_filter, filter_equal
from stripesim.resources._search import search
from stripesim.routes import Ctx, api
from stripesim.state import Record, State
from stripesim.wire import Params

PRORATION = ("create_prorations", "always_invoice", "none")


def price_param(state: State, p: Params, *, required: bool) -> Record | None:
    price_id = p.str("price")
    if price_id:
        return state.get(price_id, "price", p.name("price"))
    data = p.sub("price_data")
    if data is not None:
        from stripesim.resources.prices import create

        data.only("currency", "product", "unit_amount", "unit_amount_decimal", "recurring", "tax_behavior")
        return create(state, data)
    if required:
        raise InvalidRequest(
            f"Missing required param: {p.name('price')}.", param=p.name("price"), code="parameter_missing"
        )
    return None


def item_specs(state: State, p: Params, key: str = "items") -> list[ItemSpec]:
    specs = []
    for item in p.list_of(key, required=True):
        item.only("price", "price_data", "quantity", "metadata", "tax_rates", "discounts", "billing_thresholds", "plan")
        price = price_param(state, item, required=True)
        assert price is not None
        specs.append(ItemSpec(price, item.int("quantity", minimum=0, default=1), item.metadata() or {}))
    return specs


def item_changes(state: State, p: Params, key: str = "items") -> list[changes.ItemChange]:
    out = []
    for item in p.list_of(key):
        item.only(
            "id",
            "price",
            "price_data",
            "quantity",
            "deleted",
            "metadata",
            "clear_usage",
            "tax_rates",
            "discounts",
            "billing_thresholds",
            "plan",
        )
        out.append(
            changes.ItemChange(
                item_id=item.str("id"),
                price=price_param(state, item, required=False),
                quantity=item.int("quantity", minimum=0),
                deleted=bool(item.bool("deleted")),
                metadata=item.metadata(),
            )
        )
    return out


def discount_ids(
    ctx: Ctx, p: Params, customer: Record, product_ids: list[str], *, subscription: str | None = None
) -> list[str]:
    specs = p.list_of("discounts")
    if not specs:
        return []
    from stripesim.billing.discounts import create_discount, resolve_discounts

    resolved = resolve_discounts(
        ctx.state, specs, customer=customer, amount_subtotal=None, product_ids=product_ids, param="discounts"
    )
    now = ctx.state.now_for(customer)
    return [
        create_discount(
            ctx.state,
            spec,
            customer=customer["id"],
            subscription=subscription,
            invoice=None,
            checkout_session=None,
            start=now,
        )["id"]
        for spec in resolved
    ]


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
    behavior = (
        p.str(
            "payment_behavior",
            choices=("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"),
            default="allow_incomplete",
        )
        or "allow_incomplete"
    )
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
        discount_ids=discount_ids(ctx, p, customer, [s.price["product"] for s in specs], subscription=sub_id),
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
    now = state.now_for(record)
    if record["status"] in ("canceled", "incomplete_expired"):
        allowed = {"metadata", "cancellation_details"}
        extra = sorted(set(p.data) - allowed)
        if extra:
            raise InvalidRequest(
                "A canceled subscription can only update its cancellation_details and metadata.",
                param=extra[0],
            )
    proration = p.str("proration_behavior", choices=PRORATION, default="create_prorations") or "create_prorations"
    behavior = (
        p.str(
            "payment_behavior",
            choices=("allow_incomplete", "default_incomplete", "error_if_incomplete", "pending_if_incomplete"),
            default="allow_incomplete",
        )
        or "allow_incomplete"
    )
    at = p.int("proration_date") or now
    if at > record["_period_end"] or at < record["_period_start"]:
        at = now
    anchor = p.sub("billing_cycle_anchor")
    anchor_now = False
    if anchor is not None:
        anchor_now = anchor.str("type", required=True, choices=("now", "unchanged")) == "now"
    elif p.raw("billing_cycle_anchor") is not None:
        raise InvalidRequest(
            'billing_cycle_anchor is an object on update: {"type": "now"|"unchanged"}.', param="billing_cycle_anchor"
        )
    if record.get("schedule") and (p.has("cancel_at_period_end") or p.has("cancel_at")):
        raise InvalidRequest(
            f"The subscription is managed by the subscription schedule `{record['schedule']}`, and updating "
            "any cancelation behavior directly is not allowed. Please update the schedule instead.",
            param="cancel_at_period_end",
        )
    if record["status"] == "paused" and p.has("items"):
        raise InvalidRequest("A paused subscription's items cannot be changed; resume it first.", param="items")
    if behavior == "pending_if_incomplete":
        allowed = {
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
        extra = sorted(set(p.data) - allowed)
        if extra:
            raise InvalidRequest(
                f"payment_behavior=pending_if_incomplete cannot be combined with {extra[0]}.",
                param=extra[0],
            )
    with state.changing(record):
        if p.has("items") or anchor_now:
            changes.change_items(
                state,
                record,
                item_changes(state, p),
                proration_behavior=proration,
                payment_behavior=behavior,
                at=at,
                anchor_now=anchor_now,
            )
        _update_fields(ctx, record, p, now)
    return record


def _update_fields(ctx: Ctx, sub: Record, p: Params, now: int) -> None:
    state = ctx.state
    if p.has("cancel_at_period_end"):
        flag = bool(p.bool("cancel_at_period_end"))
        sub["cancel_at_period_end"] = flag
        sub["cancel_at"] = sub["_period_end"] if flag else None
        sub["canceled_at"] = now if flag else None
        if flag:
            sub["cancellation_details"]["reason"] = "cancellation_requested"
        else:
            sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}
    if p.has("cancel_at"):
        value = p.int("cancel_at") if not p.is_unset("cancel_at") else None
        sub["cancel_at"] = value
        sub["cancel_at_period_end"] = bool(value and value == sub["_period_end"])
        sub["canceled_at"] = now if value else None
    details = p.sub("cancellation_details")
    if details is not None:
        details.only("comment", "feedback")
        if details.has("comment"):
            sub["cancellation_details"]["comment"] = details.str("comment")
        if details.has("feedback"):
            sub["cancellation_details"]["feedback"] = details.str("feedback")
    if p.has("default_payment_method"):
        pm_id = p.str("default_payment_method")
        if pm_id:
            pm = state.get(pm_id, "payment_method", "default_payment_method")
            if pm.get("customer") != sub["customer"]:
                raise InvalidRequest(
                    "The payment method must be attached to the customer.", param="default_payment_method"
                )
        sub["default_payment_method"] = pm_id or None
    if p.has("description"):
        sub["description"] = p.str("description")
    apply_metadata(sub, p)
    automatic = p.sub("automatic_tax")
    if automatic is not None:
        enabled = bool(automatic.bool("enabled"))
        sub["automatic_tax"] = {
            "disabled_reason": None,
            "enabled": enabled,
            "liability": {"type": "self"} if enabled else None,
        }
    if p.has("pause_collection"):
        pause = p.sub("pause_collection")
        if pause is None:
            sub["pause_collection"] = None
        else:
            pause.only("behavior", "resumes_at")
            sub["pause_collection"] = {
                "behavior": pause.str(
                    "behavior", required=True, choices=("keep_as_draft", "mark_uncollectible", "void")
                ),
                "resumes_at": pause.int("resumes_at"),
            }
    if p.has("trial_end"):
        trial_value = p.timestamp_or("trial_end", "now")
        if (
            sub["status"] != "trialing"
            and trial_value != "now"
            and not (isinstance(trial_value, int) and trial_value > now)
        ):
            raise InvalidRequest("Invalid trial_end.", param="trial_end")
        if trial_value == "now":
            if sub["status"] == "trialing":
                subscriptions.end_trial_now(state, sub, now)
        elif isinstance(trial_value, int):
            sub["trial_end"] = trial_value
            sub["trial_start"] = sub.get("trial_start") or now
            sub["status"] = "trialing" if sub["status"] in ("active", "trialing") else sub["status"]
            sub["_period_end"] = trial_value
            for item in subscriptions.items_of(state, sub):
                item["current_period_end"] = trial_value
    if p.has("discounts"):
        customer = state.get(sub["customer"], "customer")
        products = [state.get(i["price"], "price")["product"] for i in subscriptions.items_of(state, sub)]
        sub["discounts"] = discount_ids(ctx, p, customer, products, subscription=sub["id"])
    if p.has("collection_method"):
        sub["collection_method"] = p.str("collection_method", choices=("charge_automatically", "send_invoice"))
    if p.has("days_until_due"):
        sub["days_until_due"] = p.int("days_until_due")
    if p.has("default_tax_rates"):
        rates = p.strings("default_tax_rates")
        sub["_default_tax_rates"] = rates
        sub["default_tax_rates"] = [state.snapshot(state.get(r, "tax_rate")) for r in rates]


@api("DELETE", "/v1/subscriptions/{sub}")
def cancel_subscription(ctx: Ctx, sub: str) -> Record:
    p = ctx.params.only("invoice_now", "prorate", "cancellation_details")
    state = ctx.state
    record = state.get(sub, "subscription")
    if record["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequest(
            "A canceled subscription can only update its cancellation_details and metadata.",
            param="subscription",
        )
    now = state.now_for(record)
    if p.bool("prorate"):
        subscriptions.credit_unused_time(state, record, now)
    details = p.sub("cancellation_details")
    comment = details.str("comment") if details else None
    feedback = details.str("feedback") if details else None
    subscriptions.cancel_now(state, record, now, comment=comment, feedback=feedback)
    if p.bool("invoice_now"):
        _final_invoice(state, record, now)
    return record


def _final_invoice(state: State, sub: Record, at: int) -> None:
    from stripesim.billing import invoices

    customer = state.get(sub["customer"], "customer")
    invoice = invoices.new_invoice(
        state, customer, billing_reason="subscription_cycle", currency=sub["currency"], subscription=sub, at=at
    )
    invoices.sweep_pending_items(state, invoice, sub["id"])
    if not invoice["_lines"]:
        return
    invoices.create(state, invoice)
    invoices.finalize(state, invoice)
    if invoice["status"] == "open":
        invoices.attempt(state, invoice)


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
    return subscriptions.pause(ctx.state, record, ctx.state.now_for(record), credit_unused=credit)


@api("POST", "/v1/subscriptions/{sub}/resume")
def resume_subscription(ctx: Ctx, sub: str) -> Record:
    p = ctx.params.only("billing_cycle_anchor", "payment_behavior", "proration_behavior", "proration_date")
    record = ctx.state.get(sub, "subscription")
    anchor = p.sub("billing_cycle_anchor")
    anchor_now = True
    if anchor is not None:
        anchor_now = anchor.str("type", choices=("now", "unchanged"), default="now") == "now"
    elif isinstance(p.raw("billing_cycle_anchor"), str):
        anchor_now = p.str("billing_cycle_anchor", choices=("now", "unchanged")) == "now"
    behavior = p.str(
        "payment_behavior",
        choices=("resume_on_payment_attempt", "resume_on_payment_success"),
        default="resume_on_payment_attempt",
    )
    return subscriptions.resume(
        ctx.state,
        record,
        ctx.state.now_for(record),
        anchor_now=anchor_now,
        proration_behavior=p.str("proration_behavior", choices=PRORATION, default="create_prorations")
        or "create_prorations",
        on_success_only=behavior == "resume_on_payment_success",
    )


@api("DELETE", "/v1/subscriptions/{sub}/discount")
def delete_subscription_discount(ctx: Ctx, sub: str) -> Record:
    record = ctx.state.get(sub, "subscription")
    if not record["discounts"]:
        raise InvalidRequest("This subscription has no discount to delete.", param="subscription")
    from stripesim.billing.discounts import remove_discount

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
    records = list(ctx.state.all("subscription"))
    status = p.str("status")
    if status is None:
        records = [r for r in records if r["status"] != "canceled"]
    elif status == "ended":
        records = [r for r in records if r["status"] in ("canceled", "incomplete_expired")]
    elif status != "all":
        records = [r for r in records if r["status"] == status]
    records = filter_equal(records, p, "customer", "test_clock", "collection_method")
    price = p.str("price")
    if price:
        records = [r for r in records if any(i["price"] == price for i in subscriptions.items_of(ctx.state, r))]
    return paginate(created_filter(p, records), p, "/v1/subscriptions")


@api("GET", "/v1/subscriptions/search")
def search_subscriptions(ctx: Ctx) -> Record:
    return search(ctx, "subscription")


# ----- subscription items ---------------------------------------------------------------------
@api("GET", "/v1/subscription_items")
def list_items(ctx: Ctx) -> Record:
    p = ctx.params.only("subscription", "limit", "starting_after", "ending_before")
    sub = ctx.state.get(p.str("subscription", required=True) or "", "subscription", "subscription")
    return paginate(
        list(reversed(subscriptions.items_of(ctx.state, sub))), p, f"/v1/subscription_items?subscription={sub['id']}"
    )


@api("GET", "/v1/subscription_items/{item}")
def retrieve_item(ctx: Ctx, item: str) -> Record:
    return ctx.state.get(item, "subscription_item")


def _item_update(ctx: Ctx, sub: Record, change: changes.ItemChange, p: Params) -> None:
    proration = p.str("proration_behavior", choices=PRORATION, default="create_prorations") or "create_prorations"
    behavior = p.str("payment_behavior", default="allow_incomplete") or "allow_incomplete"
    now = ctx.state.now_for(sub)
    with ctx.state.changing(sub):
        changes.change_items(
            ctx.state,
            sub,
            [change],
            proration_behavior=proration,
            payment_behavior=behavior,
            at=p.int("proration_date") or now,
        )


@api("POST", "/v1/subscription_items")
def create_item(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "subscription",
        "price",
        "price_data",
        "quantity",
        "metadata",
        "proration_behavior",
        "proration_date",
        "payment_behavior",
        "tax_rates",
    )
    sub = ctx.state.get(p.str("subscription", required=True) or "", "subscription", "subscription")
    price = price_param(ctx.state, p, required=True)
    before = set(sub["_items"])
    _item_update(
        ctx,
        sub,
        changes.ItemChange(price=price, quantity=p.int("quantity", minimum=0, default=1), metadata=p.metadata()),
        p,
    )
    new = [i for i in sub["_items"] if i not in before]
    return ctx.state.get(new[0], "subscription_item")


@api("POST", "/v1/subscription_items/{item}")
def update_item(ctx: Ctx, item: str) -> Record:
    p = ctx.params.only(
        "price",
        "price_data",
        "quantity",
        "metadata",
        "proration_behavior",
        "proration_date",
        "payment_behavior",
        "tax_rates",
        "off_session",
    )
    record = ctx.state.get(item, "subscription_item")
    sub = ctx.state.get(record["subscription"], "subscription")
    _item_update(
        ctx,
        sub,
        changes.ItemChange(
            item_id=item,
            price=price_param(ctx.state, p, required=False),
            quantity=p.int("quantity", minimum=0),
            metadata=p.metadata(),
        ),
        p,
    )
    return ctx.state.get(item, "subscription_item")


@api("DELETE", "/v1/subscription_items/{item}")
def delete_item(ctx: Ctx, item: str) -> Record:
    p = ctx.params.only("proration_behavior", "proration_date", "clear_usage")
    record = ctx.state.get(item, "subscription_item")
    sub = ctx.state.get(record["subscription"], "subscription")
    if len(sub["_items"]) == 1:
        raise InvalidRequest(
            "A subscription must have at least one active plan. To cancel a subscription, "
            "delete the subscription instead.",
            param="item",
        )
    _item_update(ctx, sub, changes.ItemChange(item_id=item, deleted=True), p)
    return {"id": item, "object": "subscription_item", "deleted": True}


def attach_default_pm(state: State, customer: Record, pm_id: str) -> Record:
    pm = pms.resolve(state, pm_id, "payment_method")
    pms.attach(state, pm, customer)
    return pm
