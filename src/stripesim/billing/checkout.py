"""Checkout Sessions: what paying on the hosted page creates, in the order Stripe creates it.

In subscription mode nothing exists until the first payment succeeds (the subscription is
announced incomplete, then updated active, then the session completes): a declined card
leaves no subscription behind, as on Stripe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripesim.billing import customers, invoices, payments, subscriptions
from stripesim.billing import payment_methods as pms
from stripesim.billing.cards import card_for
from stripesim.billing.discounts import create_discount, discount_amount
from stripesim.billing.invoice_drafts import add_item_line, invoice_item, new_invoice
from stripesim.billing.invoice_totals import automatic_tax_rate
from stripesim.billing.pricing import amount_for
from stripesim.billing.redemption import find_promotion_code, resolve_discounts
from stripesim.engine import timer
from stripesim.errors import CardError, InvalidRequest
from stripesim.ids import new_id
from stripesim.state import Record, State, renderer
from stripesim.wire import Params


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
    return f"{state.base_url()}/c/pay/{session['id']}"


def totals(state: State, session: Record, discount_ids: list[str] | None = None) -> None:
    subtotal = 0
    for line in session["_line_items"]:
        price = state.get(line["price"], "price")
        subtotal += line_amount(line, price)
    discount = 0
    session["_discount_amounts"] = []
    for discount_id in discount_ids or []:
        d = state.find(discount_id, "discount")
        if d is not None:
            off = discount_amount(state, d, subtotal - discount, at=state.now())
            session["_discount_amounts"].append({"amount": off, "discount": discount_id})
            discount += off
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
    }


def breakdown(state: State, session: Record) -> dict[str, Any]:
    """`total_details.breakdown` (includable): the discounts and the taxes by rate behind the
    session's totals; an invoice's own where the session made one, else the session's."""
    invoice = state.find(session.get("invoice") or "", "invoice")
    if invoice is not None:
        discounts = invoice["total_discount_amounts"]
        taxes = [
            {
                "amount": t["amount"],
                "rate": t["tax_rate_details"]["tax_rate"],
                "taxability_reason": t["taxability_reason"],
                "taxable_amount": t["taxable_amount"],
            }
            for t in invoice["total_taxes"]
        ]
    else:
        discounts = session.get("_discount_amounts") or []
        tax = session["total_details"]["amount_tax"]
        taxable = session["amount_subtotal"] - session["total_details"]["amount_discount"]
        taxes = (
            [
                {
                    "amount": tax,
                    "rate": automatic_tax_rate(state)["id"],
                    "taxability_reason": "standard_rated",
                    "taxable_amount": taxable,
                }
            ]
            if session["automatic_tax"]["enabled"] and tax
            else []
        )

    def shown(object_id: str, kind: str) -> Record:
        return state.render(state.get(object_id, kind))

    return {
        "discounts": [{"amount": d["amount"], "discount": shown(d["discount"], "discount")} for d in discounts],
        "taxes": [{**t, "rate": shown(t["rate"], "tax_rate")} for t in taxes],
    }


def applied_discounts(state: State, discount_ids: list[str]) -> list[dict[str, Any]]:
    """A session's `discounts`: the promotion code a customer entered, or else the coupon."""
    out = []
    for discount_id in discount_ids:
        discount = state.find(discount_id, "discount")
        if discount is None:
            continue
        code = discount.get("promotion_code")
        out.append({"coupon": None if code else discount["source"]["coupon"], "promotion_code": code})
    return out


def complete(
    state: State,
    session: Record,
    *,
    card_number: str,
    exp_month: int = 12,
    exp_year: int = 2034,
    email: str | None = None,
    name: str | None = None,
    promotion_code: str | None = None,
    tax_id: str | None = None,
    authenticated: bool = False,
    terms_accepted: bool = True,
) -> Outcome:
    """Pay (or save the card of) a session with the card typed on the page. A malformed tax ID,
    or terms of service the session asks for and the payer did not agree to, is refused before
    anything is charged or saved."""
    if session["status"] != "open":
        raise InvalidRequest(
            f"This Checkout Session is {session['status']} and can no longer be paid.", param="session"
        )
    if terms_required(session) and not terms_accepted:
        raise InvalidRequest("Agree to the terms of service to continue.", param="terms_of_service")
    card = card_for(card_number)
    if card is None:
        raise CardError("Your card number is incorrect.", code="incorrect_number", param="card")
    tax = customers.check_tax_id(customers.tax_id_type_for(tax_id), tax_id, param="tax_id") if tax_id else None
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
                "exp_month": exp_month,
                "exp_year": exp_year,
                "email": payer_email,
                "name": name,
                "promotion_code": promotion_code,
                "tax_id": tax_id,
            }
            return Outcome("requires_action", redirect_url=f"{session_url(state, session)}/authenticate")
    customer = _customer_for(state, session, payer_email, name)
    pm = pms.create_card(
        state, card_number, exp_month=exp_month, exp_year=exp_year, billing_email=payer_email, billing_name=name
    )
    if authenticated:
        pm["_authenticated"] = True
    # A one-time payment saves the card on the customer only when asked to (setup_future_usage).
    saves = session["mode"] != "payment" or bool(session["_payment_intent_data"].get("setup_future_usage"))
    if customer is not None and saves:
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
        si = pms.create_setup_intent(state, customer["id"] if customer else None, pm)
        si["metadata"] = dict(session["_setup_metadata"])
        session["setup_intent"] = si["id"]
    _finish(state, session, customer, payer_email, name, tax)
    return Outcome("complete", redirect_url=success_redirect(session))


def authenticate(state: State, session: Record, succeed: bool) -> Outcome:
    """The payer finished 3D Secure for the payment `complete` put on hold: pay now, or decline."""
    pending = session.get("_pending")
    if not pending:
        raise InvalidRequest("This Checkout Session is not waiting for authentication.", param="session")
    if not succeed:
        session.pop("_pending", None)
        return Outcome(
            "declined",
            message="We are unable to authenticate your payment method. "
            "Please choose a different payment method and try again.",
            decline_code="authentication_required",
        )
    return complete(
        state,
        session,
        card_number=pending["card"],
        exp_month=pending["exp_month"],
        exp_year=pending["exp_year"],
        email=pending["email"],
        name=pending["name"],
        promotion_code=pending["promotion_code"],
        tax_id=pending["tax_id"],
        authenticated=True,
    )


def success_redirect(session: Record) -> str | None:
    url = session.get("success_url") or session.get("return_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def _promotion(state: State, session: Record, code: str | None) -> list[dict[str, Any]]:
    specs = list(session["_discount_specs"])
    if not code:
        return specs
    if not session["allow_promotion_codes"]:
        raise InvalidRequest("This Checkout Session does not accept promotion codes.", param="promotion_code")
    promo = find_promotion_code(state, code, customer=session.get("customer"))
    if promo is None:
        raise InvalidRequest("This code is invalid.", param="promotion_code", code="promotion_code_invalid")
    customer = state.find(session.get("customer"), "customer")
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
    # An invoice needs a customer: with `invoice_creation` Checkout makes one, as `always` does.
    wants_invoice = bool((session.get("invoice_creation") or {}).get("enabled"))
    if session["mode"] == "payment" and session["customer_creation"] != "always" and not wants_invoice:
        return None
    customer = customers.new_customer(state, test_clock=None, email=email, name=name)
    state.emit("customer.created", customer)
    return customer


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
    days = data.get("trial_period_days")
    sub = subscriptions.create_subscription(
        state,
        customer,
        specs,
        payment_behavior="default_incomplete",
        default_payment_method=pm["id"],
        trial_end=state.now_for(customer) + days * 86400 if days else data.get("trial_end"),
        metadata=data.get("metadata") or {},
        description=data.get("description"),
        discount_ids=discounts,
        automatic_tax=session["automatic_tax"]["enabled"],
        announce_incomplete=True,
        pay_with=pm,
        authenticated=authenticated,
        subscription_id=subscription_id,
        default_tax_rates=data.get("default_tax_rates") or [],
        connect=data.get("connect"),
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
        connect=data.get("connect"),
    )
    payments.confirm(state, pi, pm, off_session=False, authenticated=authenticated)
    session["payment_intent"] = pi["id"]
    if pi["status"] != "succeeded":
        session["payment_intent"] = None
        return False
    session["payment_status"] = "paid"
    session["discounts"] = applied_discounts(state, discounts)
    if customer is not None and (session.get("invoice_creation") or {}).get("enabled"):
        session["invoice"] = _invoice_for_payment(state, session, customer, pi, discounts)["id"]
    return True


def _invoice_for_payment(state: State, session: Record, customer: Record, pi: Record, discounts: list[str]) -> Record:
    """`invoice_creation`: after the payment, a paid invoice for what was bought (its lines,
    discounts and tax as the session charged them), with the payment's receipt."""
    data = session["invoice_creation"]["invoice_data"]
    invoice = new_invoice(
        state,
        customer,
        billing_reason="manual",
        currency=session["currency"],
        automatic_tax=session["automatic_tax"]["enabled"],
        description=data.get("description"),
        metadata=data.get("metadata") or {},
        discount_ids=discounts,
    )
    invoice["footer"] = data.get("footer")
    at = invoice["created"]
    for line in session["_line_items"]:
        price = state.get(line["price"], "price")
        product = state.find(price["product"], "product")
        item = invoice_item(
            at=at,
            amount=line_amount(line, price),
            currency=session["currency"],
            customer=customer["id"],
            description=product["name"] if product else None,
            discountable=True,
            invoice=invoice["id"],
            subscription=None,
            period=(at, at),
            quantity=line["quantity"],
            test_clock=customer.get("test_clock"),
            price=price,
        )
        state.insert(item)
        state.emit("invoiceitem.created", item)
        add_item_line(state, invoice, item, subscription=None, proration=False, discountable=True)
    invoices.create(state, invoice)
    return invoices.settle_with(state, invoice, pi)


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


def terms_required(session: Record) -> bool:
    return (session.get("consent_collection") or {}).get("terms_of_service") == "required"


def _finish(
    state: State,
    session: Record,
    customer: Record | None,
    email: str | None,
    name: str | None,
    tax_id: dict[str, str] | None,
) -> None:
    if session["mode"] == "subscription":
        invoice = state.get(session["invoice"], "invoice")
        session["amount_subtotal"] = invoice["subtotal"]
        session["amount_total"] = invoice["total"]
        session["total_details"] = {
            "amount_discount": sum(d["amount"] for d in invoice["total_discount_amounts"]),
            "amount_shipping": 0,
            "amount_tax": sum(t["amount"] for t in invoice["total_taxes"] if t["tax_behavior"] == "exclusive"),
        }
        sub = state.get(session["subscription"], "subscription")
        session["discounts"] = applied_discounts(state, sub["discounts"])
    elif session["mode"] == "setup":
        session["payment_status"] = "no_payment_required"
    session["status"] = "complete"
    if terms_required(session):
        session["consent"] = {"promotions": None, "terms_of_service": "accepted"}
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
        "tax_ids": [tax_id] if tax_id else [],
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
