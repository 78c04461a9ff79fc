"""Customers: /v1/customers."""

from __future__ import annotations

from stripesim.billing import customers
from stripesim.billing import payment_methods as pms
from stripesim.billing.cancellation import cancel_for_deleted_customer
from stripesim.errors import InvalidRequest
from stripesim.present import includable, list_of, list_page
from stripesim.resources._common import apply_metadata, created_match, deleted, every
from stripesim.resources._search import search
from stripesim.routes import Ctx, api
from stripesim.state import Record, State
from stripesim.wire import Params

_FIELDS = (
    "email",
    "name",
    "description",
    "phone",
    "metadata",
    "test_clock",
    "payment_method",
    "invoice_settings",
    "address",
    "preferred_locales",
    "tax_exempt",
    "shipping",
    "balance",
    "tax_id_data",
    "invoice_prefix",
    "tax",
    "source",
    "coupon",
    "promotion_code",
    "next_invoice_sequence",
    "validate",
)


def _address(p: Params | None) -> dict[str, str | None] | None:
    if p is None:
        return None
    p.only("city", "country", "line1", "line2", "postal_code", "state")
    return {k: p.str(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def _apply(ctx: Ctx, record: Record, p: Params) -> None:
    state = ctx.state
    customers.set_contact(record, {key: p.str(key) for key in customers.CONTACT_FIELDS if p.has(key)})
    if p.has("address"):
        record["address"] = _address(p.sub("address"))
    if p.has("tax_exempt"):
        record["tax_exempt"] = p.str("tax_exempt", choices=("none", "exempt", "reverse"))
    if p.has("preferred_locales"):
        record["preferred_locales"] = p.strings("preferred_locales")
    if p.has("balance"):
        record["balance"] = p.int("balance")
    settings = p.sub("invoice_settings")
    if settings is not None:
        settings.only("default_payment_method", "custom_fields", "footer", "rendering_options")
        if settings.has("default_payment_method"):
            pm_id = settings.str("default_payment_method")
            if pm_id:
                pm = state.get(pm_id, "payment_method", "invoice_settings[default_payment_method]")
                if pm.get("customer") != record["id"]:
                    raise InvalidRequest(
                        f"The customer does not have a payment method with the ID {pm_id}. The "
                        "payment method must be attached to the customer.",
                        param="invoice_settings[default_payment_method]",
                    )
            record["invoice_settings"]["default_payment_method"] = pm_id or None
        if settings.has("footer"):
            record["invoice_settings"]["footer"] = settings.str("footer")
    apply_metadata(record, p)


@api("POST", "/v1/customers")
def create_customer(ctx: Ctx) -> Record:
    p = ctx.params.only(*_FIELDS)
    state = ctx.state
    clock = p.str("test_clock")
    if clock:
        state.get(clock, "test_helpers.test_clock", "test_clock")
    record = customers.new_customer(state, test_clock=clock)
    pm_id = p.str("payment_method")
    if pm_id:
        pms.attach(state, pms.resolve(state, pm_id, "payment_method"), record)
    _apply(ctx, record, p)
    state.emit("customer.created", record)
    return record


@api("GET", "/v1/customers/{customer}")
def retrieve_customer(ctx: Ctx, customer: str) -> Record:
    found = ctx.state.find(customer, "customer")
    if found is not None and found.get("deleted"):
        return deleted(found)
    return ctx.state.get(customer, "customer")


@api("POST", "/v1/customers/{customer}")
def update_customer(ctx: Ctx, customer: str) -> Record:
    p = ctx.params.only(*_FIELDS, "default_source")
    record = ctx.state.get(customer, "customer")
    default_before = record["invoice_settings"]["default_payment_method"]
    with ctx.state.changing(record):
        _apply(ctx, record, p)
    if record["invoice_settings"]["default_payment_method"] not in (None, default_before):
        pms.announce_new_default(ctx.state, record, None)
    return record


@api("DELETE", "/v1/customers/{customer}")
def delete_customer(ctx: Ctx, customer: str) -> Record:
    state = ctx.state
    record = state.get(customer, "customer")
    cancel_for_deleted_customer(state, record)
    record["deleted"] = True
    state.emit("customer.deleted", record, snapshot={**state.snapshot({**record, "deleted": False})})
    return deleted(record)


@api("GET", "/v1/customers")
def list_customers(ctx: Ctx) -> Record:
    p = ctx.params.only("email", "limit", "starting_after", "ending_before", "created", "test_clock")
    email = p.str("email")
    clock = p.str("test_clock")
    keep = every(
        None if email is None else lambda r: r.get("email") == email,
        None if clock is None else lambda r: r.get("test_clock") == clock,
        created_match(p),
    )
    return list_page(ctx.state, "customer", p, "/v1/customers", keep)


@api("GET", "/v1/customers/search")
def search_customers(ctx: Ctx) -> Record:
    return search(ctx, "customer")


@includable("customer", "sources")
def customer_sources(state: State, customer: Record) -> Record:
    # Cards are PaymentMethods here; the legacy sources list is always empty.
    return list_of([], f"/v1/customers/{customer['id']}/sources")


@includable("customer", "tax_ids")
def customer_tax_ids(state: State, customer: Record) -> Record:
    return list_of([], f"/v1/customers/{customer['id']}/tax_ids")


@includable("customer", "subscriptions")
def customer_subscriptions(state: State, customer: Record) -> Record:
    subs = [s for s in state.where("subscription", customer=customer["id"]) if s["status"] != "canceled"]
    return list_of(subs, f"/v1/customers/{customer['id']}/subscriptions")
