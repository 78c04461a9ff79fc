"""Payment methods and setup intents: /v1/payment_methods, /v1/setup_intents."""

from __future__ import annotations

from stripesim.billing import payment_methods as pms
from stripesim.errors import InvalidRequest
from stripesim.present import list_page, paginate
from stripesim.resources._common import apply_metadata, equal_match
from stripesim.routes import Ctx, api
from stripesim.state import Record


@api("POST", "/v1/payment_methods")
def create_payment_method(ctx: Ctx) -> Record:
    p = ctx.params.only("type", "card", "billing_details", "metadata", "customer", "payment_method", "allow_redisplay")
    kind = p.str("type", required=True)
    if kind != "card":
        raise InvalidRequest("stripesim simulates only type=card payment methods.", param="type")
    card = p.sub("card", required=True)
    assert card is not None
    token = card.str("token")
    if token:
        pm = pms.from_token(ctx.state, token, "card[token]")
    else:
        card.only("number", "exp_month", "exp_year", "cvc", "networks")
        pm = pms.create_card(
            ctx.state,
            card.str("number", required=True) or "",
            exp_month=card.int("exp_month", required=True, minimum=1, maximum=12) or 12,
            exp_year=card.int("exp_year", required=True) or 2034,
        )
    billing = p.sub("billing_details")
    if billing is not None:
        pm["billing_details"]["email"] = billing.str("email")
        pm["billing_details"]["name"] = billing.str("name")
    apply_metadata(pm, p)
    return pm


@api("GET", "/v1/payment_methods/{pm}")
def retrieve_payment_method(ctx: Ctx, pm: str) -> Record:
    return ctx.state.get(pm, "payment_method")


@api("POST", "/v1/payment_methods/{pm}")
def update_payment_method(ctx: Ctx, pm: str) -> Record:
    p = ctx.params.only("metadata", "billing_details", "card", "allow_redisplay")
    record = ctx.state.get(pm, "payment_method")
    with ctx.state.changing(record):
        apply_metadata(record, p)
        card = p.sub("card")
        if card is not None:
            if card.has("exp_month"):
                record["card"]["exp_month"] = card.int("exp_month", minimum=1, maximum=12)
            if card.has("exp_year"):
                record["card"]["exp_year"] = card.int("exp_year")
    return record


@api("POST", "/v1/payment_methods/{pm}/attach")
def attach_payment_method(ctx: Ctx, pm: str) -> Record:
    p = ctx.params.only("customer")
    customer = ctx.state.get(p.str("customer", required=True) or "", "customer", "customer")
    record = pms.resolve(ctx.state, pm, "payment_method")
    return pms.attach(ctx.state, record, customer)


@api("POST", "/v1/payment_methods/{pm}/detach")
def detach_payment_method(ctx: Ctx, pm: str) -> Record:
    ctx.params.only()
    return pms.detach(ctx.state, ctx.state.get(pm, "payment_method"))


@api("GET", "/v1/payment_methods")
def list_payment_methods(ctx: Ctx) -> Record:
    p = ctx.params.only("customer", "type", "limit", "starting_after", "ending_before")
    keep = equal_match(p, "customer", "type")
    return list_page(ctx.state, "payment_method", p, "/v1/payment_methods", keep)


@api("GET", "/v1/customers/{customer}/payment_methods")
def list_customer_payment_methods(ctx: Ctx, customer: str) -> Record:
    p = ctx.params.only("type", "limit", "starting_after", "ending_before", "allow_redisplay")
    ctx.state.get(customer, "customer")
    url = f"/v1/customers/{customer}/payment_methods"
    return list_page(ctx.state, "payment_method", p, url, lambda r: r.get("customer") == customer)


@api("GET", "/v1/customers/{customer}/payment_methods/{pm}")
def retrieve_customer_payment_method(ctx: Ctx, customer: str, pm: str) -> Record:
    record = ctx.state.get(pm, "payment_method")
    if record.get("customer") != customer:
        ctx.state.get("", "payment_method")
    return record


@api("POST", "/v1/setup_intents")
def create_setup_intent_route(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "payment_method",
        "confirm",
        "usage",
        "metadata",
        "payment_method_types",
        "automatic_payment_methods",
        "description",
    )
    customer_id = p.str("customer")
    customer = ctx.state.get(customer_id, "customer", "customer") if customer_id else None
    pm = None
    pm_id = p.str("payment_method")
    if pm_id and p.bool("confirm"):
        pm = pms.resolve(ctx.state, pm_id, "payment_method")
        if customer is not None:
            pms.attach(ctx.state, pm, customer)
    si = pms.create_setup_intent(ctx.state, customer_id, pm, p.str("usage", default="off_session") or "off_session")
    apply_metadata(si, p)
    return si


@api("GET", "/v1/setup_intents/{si}")
def retrieve_setup_intent(ctx: Ctx, si: str) -> Record:
    return ctx.state.get(si, "setup_intent")


@api("GET", "/v1/setup_intents")
def list_setup_intents(ctx: Ctx) -> Record:
    p = ctx.params.only("customer", "payment_method", "limit", "starting_after", "ending_before")
    records = list(ctx.state.all("setup_intent"))
    customer = p.str("customer")
    if customer:
        records = [r for r in records if r.get("customer") == customer]
    return paginate(records, p, "/v1/setup_intents")
