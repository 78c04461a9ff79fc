"""The hosted Checkout page at a session's `url`: `/c/pay/{session}` and its 3D Secure step."""

from __future__ import annotations

from stripesim.billing import checkout
from stripesim.billing.customers import EMAIL, check_tax_id, tax_id_type_for
from stripesim.billing.redemption import check_promotion_code, find_promotion_code
from stripesim.errors import CardError, InvalidRequest, StripeError
from stripesim.pages import checkout_view as view
from stripesim.pages._html import CardEntry, merchant, message_page, not_found, read_card
from stripesim.pages.challenge import challenge_html
from stripesim.routes import Ctx, Response, page
from stripesim.state import Record, State


def _payable(ctx: Ctx, session_id: str) -> Record | Response:
    """The session, or the page that says why it cannot be paid (unknown, complete, expired)."""
    session = ctx.state.find(session_id, "checkout.session")
    if session is None:
        return not_found("checkout session")
    return _closed(session) or session


def _closed(session: Record) -> Response | None:
    """The page for a session that can no longer be paid, if it cannot."""
    if session["status"] == "complete":
        url = checkout.success_redirect(session)
        return message_page(
            "Payment complete",
            "This checkout session is complete; nothing more to pay.",
            link=url,
            link_text="Continue",
        )
    if session["status"] == "expired":
        return message_page(
            "This checkout session has expired",
            "The link you followed is no longer valid. Return to the merchant and start again.",
            link=session.get("cancel_url"),
            link_text="Return to merchant",
            status=410,
        )
    return None


def _render(ctx: Ctx, session: Record, form: view.Form, status: int = 200) -> Response:
    action = f"/c/pay/{session['id']}"
    return Response.html(view.render(ctx.state, session, form, action=action), status=status)


def _finish(ctx: Ctx, session: Record, outcome: checkout.Outcome, form: view.Form) -> Response:
    """Redirect to the success URL or the challenge, or show the decline on the page."""
    if outcome.status == "complete":
        if outcome.redirect_url:
            return Response.redirect(outcome.redirect_url)
        return message_page("Payment complete", "Thank you. Your payment was successful.")
    if outcome.status == "requires_action":
        return Response.redirect(outcome.redirect_url or f"/c/pay/{session['id']}/authenticate")
    form.message = outcome.message or "Your card was declined."
    return _render(ctx, session, form, status=402)


@page("GET", "/c/pay/{session_id}")
def checkout_page(ctx: Ctx, session_id: str) -> Response:
    session = _payable(ctx, session_id)
    if isinstance(session, Response):
        return session
    return _render(ctx, session, view.Form())


def _check_promo(state: State, session: Record, code: str) -> Record:
    """The promotion code typed on the page, if Checkout would accept it; raises otherwise."""
    promo = find_promotion_code(state, code, customer=session.get("customer"))
    if promo is None:
        raise InvalidRequest("This code is invalid.", param="promotion_code", code="promotion_code_invalid")
    customer = state.find(session.get("customer"), "customer")
    prices = [state.get(line["price"], "price") for line in session["_line_items"]]
    lines = zip(session["_line_items"], prices, strict=True)
    check_promotion_code(
        state,
        promo,
        customer=customer,
        amount_subtotal=sum(checkout.line_amount(line, price) for line, price in lines),
        product_ids=[p["product"] for p in prices],
        param="promotion_code",
    )
    return promo


@page("POST", "/c/pay/{session_id}")
def pay(ctx: Ctx, session_id: str) -> Response:
    session = _payable(ctx, session_id)
    if isinstance(session, Response):
        return session
    data = ctx.params.data
    values = {k: str(data.get(k) or "").strip() for k in ("email", "promotion_code", "tax_id", "terms")}
    if not session["tax_id_collection"]["enabled"]:
        values["tax_id"] = ""
    form = view.Form(values=values)
    code = values["promotion_code"] if session.get("allow_promotion_codes") else ""
    if code:
        try:
            form.promo = _check_promo(ctx.state, session, code)
        except StripeError as err:
            form.errors["promotion_code"] = err.message
    if data.get("action") == "apply":
        if not code:
            form.errors["promotion_code"] = "Enter a promotion code."
        form.card = read_card(data)
        form.card.errors.clear()
        return _render(ctx, session, form, status=400 if form.errors else 200)
    form.card = read_card(data)
    form.errors.update(form.card.errors)
    customer = ctx.state.find(session.get("customer"), "customer")
    email = session.get("customer_email") or (customer or {}).get("email") or values["email"]
    if not email:
        form.errors["email"] = "Your email is incomplete."
    elif not EMAIL.match(email):
        form.errors["email"] = "Your email address is invalid."
    if values["tax_id"]:
        try:
            check_tax_id(tax_id_type_for(values["tax_id"]), values["tax_id"], param="tax_id")
        except StripeError as err:
            form.errors["tax_id"] = err.message
    if checkout.terms_required(session) and values["terms"] != "accepted":
        form.errors["terms_of_service"] = "Agree to the terms of service to continue."
    if form.errors:
        return _render(ctx, session, form, status=400)
    try:
        outcome = checkout.complete(
            ctx.state,
            session,
            card_number=form.card.number,
            exp_month=form.card.exp_month,
            exp_year=form.card.exp_year,
            email=email,
            name=form.card.name or None,
            promotion_code=code or None,
            tax_id=values["tax_id"] or None,
        )
    except StripeError as err:
        return _error(ctx, session, form, err)
    return _finish(ctx, session, outcome, form)


def _error(ctx: Ctx, session: Record, form: view.Form, err: StripeError) -> Response:
    closed = _closed(session)
    if closed is not None:
        return closed
    fields = {"card": "card_number", "promotion_code": "promotion_code", "tax_id": "tax_id", "email": "email"}
    target = fields.get(err.param or "")
    if target:
        form.errors[target] = err.message
    else:
        form.message = err.message
    if target == "promotion_code":
        form.promo = None
    return _render(ctx, session, form, status=402 if isinstance(err, CardError) else 400)


@page("GET", "/c/pay/{session_id}/authenticate")
def challenge(ctx: Ctx, session_id: str) -> Response:
    session = _payable(ctx, session_id)
    if isinstance(session, Response):
        return session
    pending = session.get("_pending")
    if not pending:
        return Response.redirect(f"/c/pay/{session_id}")
    return Response.html(
        challenge_html(
            action=f"/c/pay/{session_id}/authenticate",
            amount=session.get("amount_total"),
            currency=session["currency"],
            merchant=merchant(ctx.state).name,
            card_last4=str(pending["card"])[-4:],
            note="Completing authentication pays the checkout session."
            if session["mode"] != "setup"
            else "Completing authentication saves the card.",
        )
    )


@page("POST", "/c/pay/{session_id}/authenticate")
def challenge_result(ctx: Ctx, session_id: str) -> Response:
    session = _payable(ctx, session_id)
    if isinstance(session, Response):
        return session
    if not session.get("_pending"):
        return Response.redirect(f"/c/pay/{session_id}")
    pending = dict(session["_pending"])
    # A failed challenge asks for another card; what was typed besides the card stays.
    name = pending.get("name") or ""
    form = view.Form(
        values={
            "email": pending.get("email") or "",
            "promotion_code": pending.get("promotion_code") or "",
            "tax_id": pending.get("tax_id") or "",
        },
        card=CardEntry(name=name, raw={"name": name}),
    )
    succeed = ctx.params.data.get("result") != "fail"
    try:
        outcome = checkout.authenticate(ctx.state, session, succeed)
    except StripeError as err:
        return _error(ctx, session, form, err)
    return _finish(ctx, session, outcome, form)
