"""Checkout Sessions: what paying on the hosted page creates, in the order Stripe creates it.

In subscription mode nothing exists until the first payment succeeds (the subscription is
announced incomplete, then updated active, then the session completes): a declined card
leaves no subscription behind, as on Stripe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripesim.billing import invoices, payments, subscriptions
from stripesim.billing import payment_methods as pms
from stripesim.billing.cards import card_for
from stripesim.engine import timer
from stripesim.errors import CardError, InvalidRequest
from stripesim.ids import new_id
from stripesim.resources._common import new_record
from stripesim.resources.prices import amount_for
from stripesim.state import Record, State, renderer


@dataclass
class Outcome:
    """What the payer sees: redirected to the success URL, asked to authenticate, or declined."""

    status: str  # "complete" | "requires_action" | "declined"
    redirect_url: str | None = None
    message: str | None = None
    decline_code: str | None = None


def line_amount(line: dict[str, Any], price: Record) -> int:
    return amount_for(price, line["quantity"])


def session_url(state: State, session: Record) -> str:
    return f"{payments.base_url(state)}/c/pay/{session['id']}"


def totals(state: State, session: Record, discount_ids: list[str] | None = None) -> None:
    subtotal = 0
    for line in session["_line_items"]:
        price = state.get(line["price"], "price")
        subtotal += line_amount(line, price)
    discount = 0
    if discount_ids:
        from stripesim.billing.discounts import discount_amount

        for discount_id in discount_ids:
            d = state.find(discount_id, "discount")
            if d is not None:
                discount += discount_amount(state, d, subtotal - discount, at=state.now())
    trial = session["mode"] == "subscription" and session["_trial"]
    taxable = 0 if trial else subtotal - discount
    tax = 0
    if session["automatic_tax"]["enabled"] and taxable > 0:
        pct = state.config.automatic_tax_percent
        tax = round(taxable * pct / 100)
    session["amount_subtotal"] = 0 if trial else subtotal
    session["amount_total"] = 0 if trial else subtotal - discount + tax
    session["total_details"] = {
        "amount_discount": 0 if trial else discount,
        "amount_shipping": 0,
        "amount_tax": tax,
        "breakdown": None,
    }


def complete(
    state: State,
    session: Record,
    *,
    card_number: str,
    email: str | None = None,
    name: str | None = None,
    promotion_code: str | None = None,
    tax_id: str | None = None,
    authenticated: bool = False,
) -> Outcome:
    if session["status"] != "open":
        raise InvalidRequest(
            f"This Checkout Session is {session['status']} and can no longer be paid.", param="session"
        )
    card = card_for(card_number)
    if card is None:
        raise CardError("Your card number is incorrect.", code="incorrect_number", param="card")
    discount_ids = _promotion(state, session, promotion_code)
    payer_email = email or session.get("customer_email")
    if session["mode"] != "setup":
        if card.behaviour in ("decline", "fail_after_attach"):
            _record_failed_payment(state, session, card_number)
            return Outcome("declined", message=card.message, decline_code=card.decline_code)
        needs_auth = card.behaviour in ("authenticate_always", "authenticate_first")
        if needs_auth and not authenticated:
            session["_pending"] = {
                "card": card_number,
                "email": payer_email,
                "name": name,
                "promotion_code": promotion_code,
                "tax_id": tax_id,
            }
            return Outcome("requires_action", redirect_url=f"{session_url(state, session)}/authenticate")
    customer = _customer_for(state, session, payer_email, name)
    pm = pms.create_card(state, card_number, billing_email=payer_email, billing_name=name)
    if authenticated:
        pm["_authenticated"] = True
    if customer is not None:
        pms.attach(state, pm, customer)
    session.pop("_pending", None)
    sub_id = new_id("sub") if session["mode"] == "subscription" else None
    discounts = [_attach_discount(state, spec, customer, session, sub_id) for spec in discount_ids]
    if session["mode"] == "subscription":
        assert customer is not None
        _pay_subscription(state, session, customer, pm, discounts, authenticated, sub_id)
    elif session["mode"] == "payment":
        if not _pay_once(state, session, customer, pm, discounts, authenticated):
            return Outcome("declined", message="Your card was declined.")
    else:
        from stripesim.resources.payment_methods import create_setup_intent
        from stripesim.routes import Ctx
        from stripesim.wire import Params

        ctx = Ctx(state=state, params=Params({}), method="POST", path="")
        si = create_setup_intent(ctx, customer["id"] if customer else None, pm)
        si["metadata"] = dict(session["_setup_metadata"])
        session["setup_intent"] = si["id"]
    _finish(state, session, customer, payer_email, name, tax_id)
    return Outcome("complete", redirect_url=success_redirect(session))


def success_redirect(session: Record) -> str | None:
    url = session.get("success_url") or session.get("return_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def _promotion(state: State, session: Record, code: str | None) -> list[dict[str, Any]]:
    specs = list(session["_discount_specs"])
    if not code:
        return specs
    if not session["allow_promotion_codes"]:
        raise InvalidRequest("This Checkout Session does not accept promotion codes.", param="promotion_code")
    from stripesim.billing.discounts import find_promotion_code, resolve_discounts
    from stripesim.wire import Params

    promo = find_promotion_code(state, code, customer=session.get("customer"))
    if promo is None:
        raise InvalidRequest("This code is invalid.", param="promotion_code", code="promotion_code_invalid")
    customer = state.find(session.get("customer") or "", "customer")
    products = [state.get(line["price"], "price")["product"] for line in session["_line_items"]]
    subtotal = sum(line_amount(line, state.get(line["price"], "price")) for line in session["_line_items"])
    return resolve_discounts(
        state,
        [Params({"promotion_code": promo["id"]}, "discounts[0]")],
        customer=customer,
        amount_subtotal=subtotal,
        currency=session["currency"],
        product_ids=products,
        param="promotion_code",
    )


def _attach_discount(
    state: State, spec: dict[str, Any], customer: Record | None, session: Record, subscription: str | None
) -> str:
    from stripesim.billing.discounts import create_discount

    now = state.now_for(customer) if customer else state.now()
    return create_discount(
        state,
        spec,
        customer=customer["id"] if customer else None,
        subscription=subscription,
        invoice=None,
        checkout_session=session["id"],
        start=now,
    )["id"]


def _customer_for(state: State, session: Record, email: str | None, name: str | None) -> Record | None:
    if session.get("customer"):
        return state.get(session["customer"], "customer")
    if session["mode"] == "payment" and session["customer_creation"] != "always":
        return None
    customer = new_record(
        state,
        "customer",
        "cus",
        created=state.now(),
        balance=0,
        delinquent=False,
        discount=None,
        shipping=None,
        address=None,
        invoice_prefix=_prefix(state),
        next_invoice_sequence=1,
        tax_exempt="none",
        test_clock=None,
        currency=None,
        default_source=None,
        email=email,
        name=name,
    )
    customer["invoice_settings"] = {
        "custom_fields": None,
        "default_payment_method": None,
        "footer": None,
        "rendering_options": None,
    }
    state.insert(customer)
    state.emit("customer.created", customer)
    return customer


def _prefix(state: State) -> str:
    from stripesim.resources.customers import record_prefix

    return record_prefix(state)


def _pay_subscription(
    state: State,
    session: Record,
    customer: Record,
    pm: Record,
    discounts: list[str],
    authenticated: bool,
    subscription_id: str | None,
) -> None:
    specs = [
        subscriptions.ItemSpec(state.get(line["price"], "price"), line["quantity"]) for line in session["_line_items"]
    ]
    data = session["_subscription_data"]
    sub = subscriptions.create_subscription(
        state,
        customer,
        specs,
        payment_behavior="default_incomplete",
        default_payment_method=pm["id"],
        trial_end=data.get("trial_end"),
        metadata=data.get("metadata") or {},
        description=data.get("description"),
        discount_ids=discounts,
        automatic_tax=session["automatic_tax"]["enabled"],
        announce_incomplete=True,
        pay_with=pm,
        authenticated=authenticated,
        subscription_id=subscription_id,
        default_tax_rates=data.get("default_tax_rates") or [],
    )
    session["subscription"] = sub["id"]
    session["invoice"] = sub["latest_invoice"]
    invoice = state.get(sub["latest_invoice"], "invoice")
    session["payment_status"] = "paid" if invoice["amount_due"] > 0 else "no_payment_required"
    if sub["status"] not in ("active", "trialing"):
        raise CardError("Your card was declined.", code="card_declined")


def _pay_once(
    state: State, session: Record, customer: Record | None, pm: Record, discounts: list[str], authenticated: bool
) -> bool:
    totals(state, session, discounts)
    data = session["_payment_intent_data"]
    pi = payments.create_intent(
        state,
        amount=session["amount_total"],
        currency=session["currency"],
        customer=customer["id"] if customer else None,
        description=data.get("description"),
        metadata=data.get("metadata") or {},
        setup_future_usage=data.get("setup_future_usage"),
        linked_to={"checkout_session": session["id"]},
    )
    payments.confirm(state, pi, pm, off_session=False, authenticated=authenticated)
    session["payment_intent"] = pi["id"]
    if pi["status"] != "succeeded":
        session["payment_intent"] = None
        return False
    session["payment_status"] = "paid"
    session["discounts"] = [{"coupon": None, "discount": d, "promotion_code": None} for d in discounts]
    return True


def _record_failed_payment(state: State, session: Record, card_number: str) -> None:
    """A decline on the page: in payment mode the attempt is visible as a failed intent."""
    if session["mode"] != "payment":
        return
    pm = pms.create_card(state, card_number)
    pi = payments.create_intent(
        state,
        amount=session["amount_total"] or 0,
        currency=session["currency"],
        customer=session.get("customer"),
        linked_to={"checkout_session": session["id"]},
    )
    payments.confirm(state, pi, pm, off_session=False)


def _finish(
    state: State, session: Record, customer: Record | None, email: str | None, name: str | None, tax_id: str | None
) -> None:
    if session["mode"] == "subscription":
        invoice = state.get(session["invoice"], "invoice")
        session["amount_subtotal"] = invoice["subtotal"]
        session["amount_total"] = invoice["total"]
        session["total_details"] = {
            "amount_discount": sum(d["amount"] for d in invoice["total_discount_amounts"]),
            "amount_shipping": 0,
            "amount_tax": sum(t["amount"] for t in invoice["total_taxes"] if t["tax_behavior"] == "exclusive"),
            "breakdown": None,
        }
        sub = state.get(session["subscription"], "subscription")
        session["discounts"] = [{"coupon": None, "discount": d, "promotion_code": None} for d in sub["discounts"]]
    elif session["mode"] == "setup":
        session["payment_status"] = "no_payment_required"
    session["status"] = "complete"
    session["customer"] = customer["id"] if customer else None
    session["url"] = None
    session["customer_details"] = {
        "address": None,
        "business_name": None,
        "email": email or (customer or {}).get("email"),
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [{"type": "eu_vat", "value": tax_id}] if tax_id else [],
    }
    state.emit("checkout.session.completed", session)


def expire(state: State, session: Record) -> Record:
    if session["status"] != "open":
        raise InvalidRequest(
            f"Only Checkout Sessions with a status of open can be expired; this one is {session['status']}.",
            param="session",
        )
    session["status"] = "expired"
    session["url"] = None
    state.emit("checkout.session.expired", session)
    return session


@timer("checkout.session", lambda state, s: s["expires_at"] if s["status"] == "open" else None, priority=5)
def expire_when_due(state: State, session: Record, at: int) -> None:
    expire(state, session)


@renderer("checkout.session")
def render_session(state: State, session: Record) -> Record:
    return dict(session)


def line_items_of(state: State, session: Record) -> list[Record]:
    items = []
    for line in session["_line_items"]:
        price = state.get(line["price"], "price")
        amount = line_amount(line, price)
        product = state.find(price["product"], "product")
        items.append(
            {
                "adjustable_quantity": None,
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": price["currency"],
                "description": product["name"] if product else None,
                "discounts": [],
                "id": line["id"],
                "metadata": {},
                "object": "item",
                "price": dict(price),
                "quantity": line["quantity"],
                "taxes": [],
            }
        )
    return items


def invoice_of(state: State, session: Record) -> Record | None:
    return state.find(session.get("invoice") or "", "invoice")


def keep_imports() -> tuple[object, ...]:
    return (invoices,)
