"""Checkout Sessions: /v1/checkout/sessions, and the simulator's completion control."""

from __future__ import annotations

from typing import Any

from stripesim.billing import checkout, connect_accounts
from stripesim.billing.redemption import resolve_discounts
from stripesim.errors import CardError, InvalidRequest, missing
from stripesim.ids import new_id, secret
from stripesim.present import includable, list_of, list_page, paginate
from stripesim.resources._catalog import price_param
from stripesim.resources._common import apply_metadata, created_match, equal_match, every
from stripesim.routes import Ctx, Response, api, sim
from stripesim.shapes import new_record
from stripesim.state import Record, State
from stripesim.wire import Params

_FIELDS = (
    "mode",
    "line_items",
    "customer",
    "customer_email",
    "customer_creation",
    "client_reference_id",
    "metadata",
    "success_url",
    "cancel_url",
    "return_url",
    "ui_mode",
    "allow_promotion_codes",
    "discounts",
    "subscription_data",
    "payment_intent_data",
    "setup_intent_data",
    "automatic_tax",
    "tax_id_collection",
    "expires_at",
    "billing_address_collection",
    "customer_update",
    "consent_collection",
    "currency",
    "locale",
    "payment_method_collection",
    "saved_payment_method_options",
    "invoice_creation",
    "submit_type",
    "phone_number_collection",
    "custom_fields",
    "custom_text",
    "payment_method_configuration",
    "payment_method_options",
    "redirect_on_completion",
    "shipping_address_collection",
    "origin_context",
    "adaptive_pricing",
)
# The pinned version's values (`hosted`, `embedded` and `custom` are older names, refused).
UI_MODES = ("hosted_page", "embedded_page", "elements", "form")


def _connected(state: State, p: Params, key: str) -> str | None:
    """A connected account named by `key` (Stripe's 404 for one that is not)."""
    account = p.str(key)
    if account is not None:
        connect_accounts.connected(state, account, p.name(key))
    return account


def _payment_destination(state: State, p: Params) -> dict[str, Any] | None:
    """A destination charge's `payment_intent_data`: `transfer_data`, `application_fee_amount`,
    `on_behalf_of`, `transfer_group` (a separate charge's transfer group alone is one too)."""
    transfer = p.sub("transfer_data")
    if transfer is not None:
        transfer.only("destination", "amount")
    fee = p.int("application_fee_amount", minimum=0)
    if fee is not None and transfer is None:
        raise InvalidRequest(
            "application_fee_amount needs transfer_data[destination] (or a direct charge).",
            param=p.name("application_fee_amount"),
        )
    found: dict[str, Any] = {
        "application_fee_amount": fee,
        "on_behalf_of": _connected(state, p, "on_behalf_of"),
        "transfer_group": p.str("transfer_group"),
    }
    if transfer is not None:
        destination = _connected(state, transfer, "destination")
        if destination is None:
            raise missing(transfer.name("destination"))
        found["transfer_data"] = {"destination": destination}
        amount = transfer.int("amount", minimum=1)
        if amount is not None:
            found["transfer_data"]["amount"] = amount
    return {k: v for k, v in found.items() if v is not None} or None


def _subscription_destination(state: State, p: Params) -> dict[str, Any] | None:
    """A subscription paying a connected account: `subscription_data[transfer_data]`,
    `application_fee_percent`, `on_behalf_of`."""
    transfer = p.sub("transfer_data")
    percent = p.float("application_fee_percent")
    if percent is not None and not 0 <= percent <= 100:
        raise InvalidRequest(
            "application_fee_percent must be between 0 and 100.", param=p.name("application_fee_percent")
        )
    found: dict[str, Any] = {"application_fee_percent": percent, "on_behalf_of": _connected(state, p, "on_behalf_of")}
    if transfer is not None:
        transfer.only("destination", "amount_percent")
        destination = _connected(state, transfer, "destination")
        if destination is None:
            raise missing(transfer.name("destination"))
        found["transfer_data"] = {"amount_percent": transfer.float("amount_percent"), "destination": destination}
    elif percent is not None:
        raise InvalidRequest(
            "application_fee_percent needs transfer_data[destination] (or a direct charge).",
            param=p.name("application_fee_percent"),
        )
    return {k: v for k, v in found.items() if v is not None} or None


def _line_items(state: State, p: Params, mode: str) -> list[dict[str, Any]]:
    lines = []
    for i, item in enumerate(p.list_of("line_items", required=mode != "setup")):
        item.only("price", "price_data", "quantity", "adjustable_quantity", "tax_rates", "dynamic_tax_rates")
        price = price_param(state, item, required=True)
        assert price is not None
        if not price["active"]:
            raise InvalidRequest("The price specified is inactive.", param=f"line_items[{i}][price]")
        if mode == "payment" and price["type"] == "recurring":
            raise InvalidRequest(
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` "
                "mode or use only one-time prices.",
                param=f"line_items[{i}][price]",
            )
        quantity = item.int("quantity", minimum=1, maximum=999999, default=None)
        if quantity is None and not (price.get("recurring") or {}).get("usage_type") == "metered":
            raise InvalidRequest(
                f"Quantity is required. Add `quantity` to `line_items[{i}]`.",
                param=f"line_items[{i}][quantity]",
                code="parameter_missing",
            )
        lines.append({"id": new_id("li"), "price": price["id"], "quantity": quantity or 1})
    if mode == "subscription" and not any(state.get(line["price"], "price")["type"] == "recurring" for line in lines):
        raise InvalidRequest(
            "You must provide at least one recurring price in `subscription` mode when using prices.",
            param="line_items",
        )
    return lines


def _consent_collection(spec: Params | None) -> dict[str, Any] | None:
    """What the page asks the payer to agree to: the terms of service (a required checkbox;
    Stripe links the terms' URL from the account's public details), promotional emails."""
    if spec is None:
        return None
    spec.only("terms_of_service", "promotions", "payment_method_reuse_agreement")
    reuse = spec.sub("payment_method_reuse_agreement")
    position = None
    if reuse is not None:
        reuse.only("position")
        position = reuse.str("position", required=True, choices=("auto", "hidden"))
    return {
        "payment_method_reuse_agreement": {"position": position} if position else None,
        "promotions": spec.str("promotions", choices=("auto", "none")),
        "terms_of_service": spec.str("terms_of_service", choices=("none", "required")),
    }


def _custom_text(spec: Params | None) -> dict[str, Any]:
    """Text shown beside the payment form: `{"terms_of_service_acceptance": {"message": …}}`
    (beside the terms checkbox), `submit`, `after_submit`, `shipping_address`."""
    shown: dict[str, Any] = {"after_submit": None, "shipping_address": None, "submit": None}
    shown["terms_of_service_acceptance"] = None
    if spec is None:
        return shown
    spec.only(*shown)
    for key in shown:
        text = spec.sub(key)
        if text is not None:
            text.only("message")
            shown[key] = {"message": text.str("message", required=True, max_length=1200)}
    return shown


def _invoice_creation(spec: Params | None, mode: str) -> dict[str, Any] | None:
    """`invoice_creation` (payment mode only): a paid invoice after the payment, if enabled."""
    if mode != "payment":
        if spec is not None:
            raise InvalidRequest(
                "You can only set `invoice_creation` in `payment` mode; `subscription` mode creates "
                "invoices on its own.",
                param="invoice_creation",
            )
        return None
    data = None
    if spec is not None:
        spec.only("enabled", "invoice_data")
        if spec.bool("enabled") is None:
            raise InvalidRequest(
                "Missing required param: invoice_creation[enabled].",
                param="invoice_creation[enabled]",
                code="parameter_missing",
            )
        data = spec.sub("invoice_data")
    if data is not None:
        data.only(
            "account_tax_ids", "custom_fields", "description", "footer", "issuer", "metadata", "rendering_options"
        )
    return {
        "enabled": bool(spec is not None and spec.bool("enabled")),
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": data.str("description") if data else None,
            "footer": data.str("footer") if data else None,
            "issuer": None,
            "metadata": (data.metadata() if data else None) or {},
            "rendering_options": None,
        },
    }


@api("POST", "/v1/checkout/sessions")
def create_session(ctx: Ctx) -> Record:
    if ctx.params.has("payment_method_types"):
        raise InvalidRequest(
            "Received unknown parameter: payment_method_types. Checkout chooses payment methods from "
            "your payment method settings (dynamic payment methods); remove this parameter.",
            param="payment_method_types",
        )
    p = ctx.params.only(*_FIELDS)
    state = ctx.state
    mode = p.str("mode", required=True, choices=("payment", "subscription", "setup")) or "payment"
    ui_mode = p.str("ui_mode", choices=UI_MODES, default="hosted_page") or "hosted_page"
    success_url = p.str("success_url")
    if ui_mode == "hosted_page" and not success_url:
        raise InvalidRequest("Missing required param: success_url.", param="success_url", code="parameter_missing")
    customer_id = p.str("customer")
    customer = state.get(customer_id, "customer", "customer") if customer_id else None
    if customer_id and p.str("customer_email"):
        raise InvalidRequest(
            "You may only specify one of these parameters: customer, customer_email.", param="customer_email"
        )
    if p.bool("allow_promotion_codes") and p.has("discounts"):
        raise InvalidRequest(
            "You may only specify one of these parameters: allow_promotion_codes, discounts.", param="discounts"
        )
    lines = _line_items(state, p, mode)
    now = state.now_for(customer) if customer else state.now()
    expires_at = p.int("expires_at") or now + state.config.checkout_expires_s
    if not (now + 1800 <= expires_at <= now + 24 * 3600):
        raise InvalidRequest(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    sub_data: dict[str, Any] = {}
    data = p.sub("subscription_data")
    if data is not None:
        if mode != "subscription":
            raise InvalidRequest("subscription_data can only be used in subscription mode.", param="subscription_data")
        data.only(
            "trial_period_days",
            "trial_end",
            "metadata",
            "description",
            "default_tax_rates",
            "trial_settings",
            "billing_cycle_anchor",
            "proration_behavior",
            "invoice_settings",
            "application_fee_percent",
            "on_behalf_of",
            "transfer_data",
            "billing_mode",
        )
        days = data.int("trial_period_days", minimum=1, maximum=730)
        trial_end = data.int("trial_end")
        if days and trial_end:
            raise InvalidRequest(
                "You may only specify one of trial_end and trial_period_days.", param="subscription_data[trial_end]"
            )
        if trial_end is not None and trial_end < now + 2 * 86400:
            raise InvalidRequest(
                "subscription_data[trial_end] must be at least 48 hours in the future.",
                param="subscription_data[trial_end]",
            )
        sub_data = {
            # What the page shows; with trial_period_days the trial is counted again from the
            # subscription's creation, when the customer completes the session (as on Stripe).
            "trial_end": trial_end or (now + days * 86400 if days else None),
            "trial_period_days": days,
            "metadata": data.metadata() or {},
            "description": data.str("description"),
            "default_tax_rates": data.strings("default_tax_rates"),
            "connect": _subscription_destination(state, data),
        }
    pi_data: dict[str, Any] = {}
    pdata = p.sub("payment_intent_data")
    if pdata is not None:
        if mode != "payment":
            raise InvalidRequest("payment_intent_data can only be used in payment mode.", param="payment_intent_data")
        pi_data = {
            "metadata": pdata.metadata() or {},
            "description": pdata.str("description"),
            "setup_future_usage": pdata.str("setup_future_usage", choices=("on_session", "off_session")),
            "connect": _payment_destination(state, pdata),
        }
    invoice_creation = _invoice_creation(p.sub("invoice_creation"), mode)
    automatic = p.sub("automatic_tax")
    tax_enabled = bool(automatic.bool("enabled")) if automatic else False
    tax_ids = p.sub("tax_id_collection")
    currency = (p.str("currency") or (state.get(lines[0]["price"], "price")["currency"] if lines else "usd")).lower()
    consent_collection = _consent_collection(p.sub("consent_collection"))
    session = new_record(
        "checkout.session",
        "cs_test",
        created=now,
        adaptive_pricing=None,
        after_expiration=None,
        allow_promotion_codes=p.bool("allow_promotion_codes"),
        amount_subtotal=None,
        amount_total=None,
        billing_address_collection=p.str("billing_address_collection", choices=("auto", "required")),
        cancel_url=p.str("cancel_url"),
        client_reference_id=p.str("client_reference_id", max_length=200),
        collected_information=None,
        consent=None,
        consent_collection=consent_collection,
        currency=currency,
        currency_conversion=None,
        custom_fields=[],
        custom_text=_custom_text(p.sub("custom_text")),
        customer=customer_id,
        customer_account=None,
        customer_creation=p.str("customer_creation", choices=("always", "if_required"), default="if_required")
        if mode == "payment"
        else None,
        customer_details=None,
        customer_email=p.str("customer_email") or (customer or {}).get("email"),
        discounts=[],
        expires_at=expires_at,
        integration_identifier=None,
        invoice=None,
        invoice_creation=invoice_creation,
        locale=p.str("locale"),
        managed_payments=None,
        mode=mode,
        origin_context=None,
        payment_intent=None,
        payment_link=None,
        payment_method_collection="always" if mode != "payment" else None,
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=["card"],
        payment_status="unpaid" if mode != "setup" else "no_payment_required",
        permissions=None,
        phone_number_collection={"enabled": False},
        recovered_from=None,
        return_url=p.str("return_url"),
        saved_payment_method_options=None,
        setup_intent=None,
        shipping_address_collection=None,
        shipping_cost=None,
        shipping_options=[],
        status="open",
        submit_type=p.str("submit_type"),
        subscription=None,
        success_url=success_url,
        ui_mode=ui_mode,
        wallet_options=None,
    )
    session["id"] = "cs_test_" + new_id("x", 58)[2:]
    session["automatic_tax"] = {
        "enabled": tax_enabled,
        "liability": {"type": "self"} if tax_enabled else None,
        "provider": "stripe" if tax_enabled else None,
        "status": "requires_location_inputs" if tax_enabled else None,
    }
    session["tax_id_collection"] = {"enabled": bool(tax_ids and tax_ids.bool("enabled")), "required": "never"}
    if session["return_url"] is None:
        del session["return_url"]  # present only when given
    session["client_secret"] = None if ui_mode == "hosted_page" else f"{session['id']}_secret_{secret('x', 24)[2:]}"
    session["url"] = checkout.session_url(state, session) if ui_mode == "hosted_page" else None
    session["_line_items"] = lines
    session["_trial"] = bool(sub_data.get("trial_end"))
    session["_subscription_data"] = sub_data
    session["_payment_intent_data"] = pi_data
    setup = p.sub("setup_intent_data")
    session["_setup_metadata"] = (setup.metadata() or {}) if setup else {}
    session["_discount_specs"] = []
    apply_metadata(session, p)
    specs = p.list_of("discounts")
    if specs:
        products = [state.get(line["price"], "price")["product"] for line in lines]
        session["_discount_specs"] = resolve_discounts(
            state, specs, customer=customer, amount_subtotal=None, product_ids=products, param="discounts"
        )
    checkout.totals(state, session)
    state.insert(session)
    return session


@api("GET", "/v1/checkout/sessions/{session}")
def retrieve_session(ctx: Ctx, session: str) -> Record:
    return ctx.state.get(session, "checkout.session")


@api("GET", "/v1/checkout/sessions")
def list_sessions(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "customer",
        "payment_intent",
        "subscription",
        "status",
        "limit",
        "starting_after",
        "ending_before",
        "created",
        "customer_details",
        "payment_link",
    )
    keep = every(equal_match(p, "customer", "payment_intent", "subscription", "status"), created_match(p))
    return list_page(ctx.state, "checkout.session", p, "/v1/checkout/sessions", keep)


@api("POST", "/v1/checkout/sessions/{session}/expire")
def expire_session(ctx: Ctx, session: str) -> Record:
    ctx.params.only()
    return checkout.expire(ctx.state, ctx.state.get(session, "checkout.session"))


@api("GET", "/v1/checkout/sessions/{session}/line_items")
def session_line_items(ctx: Ctx, session: str) -> Record:
    p = ctx.params.only("limit", "starting_after", "ending_before")
    record = ctx.state.get(session, "checkout.session")
    return paginate(checkout.line_items_of(ctx.state, record), p, f"/v1/checkout/sessions/{session}/line_items")


def _outcome_json(state: State, session: Record, outcome: checkout.Outcome) -> Response:
    body = {
        "status": outcome.status,
        "redirect_url": outcome.redirect_url,
        "message": outcome.message,
        "decline_code": outcome.decline_code,
        "session": state.snapshot(session),
    }
    if outcome.status == "declined":
        err = CardError(
            outcome.message or "Your card was declined.", code="card_declined", decline_code=outcome.decline_code
        )
        return Response.json(err.body(), status=402)
    return Response.json(body)


@sim("POST", "/_sim/checkout/sessions/{session}/complete")
def sim_complete(ctx: Ctx, session: str) -> Response:
    """Pay a session without a browser: `card=<number>`, optional `email`, `name`, `promotion_code`;
    the terms of service (when the session asks) are agreed to unless `terms=declined`."""
    p = ctx.params
    record = ctx.state.get(session, "checkout.session")
    outcome = checkout.complete(
        ctx.state,
        record,
        card_number=p.str("card", default="4242424242424242") or "",
        email=p.str("email"),
        name=p.str("name"),
        promotion_code=p.str("promotion_code"),
        tax_id=p.str("tax_id"),
        terms_accepted=p.str("terms", default="accepted", choices=("accepted", "declined")) == "accepted",
    )
    return _outcome_json(ctx.state, record, outcome)


@sim("POST", "/_sim/checkout/sessions/{session}/authenticate")
def sim_authenticate(ctx: Ctx, session: str) -> Response:
    """Finish 3D Secure for a session that answered `requires_action`: `result=succeed|fail`."""
    record = ctx.state.get(session, "checkout.session")
    result = ctx.params.str("result", default="succeed", choices=("succeed", "fail"))
    return _outcome_json(ctx.state, record, checkout.authenticate(ctx.state, record, result == "succeed"))


@includable("checkout.session", "total_details.breakdown")
def session_breakdown_included(state: State, session: Record) -> Record:
    return checkout.breakdown(state, session)


@includable("checkout.session", "line_items")
def session_line_items_included(state: State, session: Record) -> Record:
    return list_of(checkout.line_items_of(state, session), f"/v1/checkout/sessions/{session['id']}/line_items")
