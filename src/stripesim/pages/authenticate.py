"""3D Secure for payment intents in `requires_action`: the page at
`next_action.redirect_to_url.url` (`/authenticate/{pi}`) and a browserless control."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from stripesim.billing import payments
from stripesim.billing.invoices import invoice_collected_by
from stripesim.errors import InvalidRequest
from stripesim.pages._html import merchant, message_page, not_found
from stripesim.pages.challenge import challenge_html
from stripesim.routes import Ctx, Response, page, sim
from stripesim.state import Record, State


def _with_query(url: str, extra: dict[str, str]) -> str:
    """`url` with Stripe's redirect parameters added to its query string."""
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def destination(state: State, pi: Record, return_url: str | None) -> str:
    """Where the payer goes after the challenge: the return URL (with Stripe's query
    parameters), the invoice's hosted page, or this page's own result."""
    if return_url:
        status = "succeeded" if pi["status"] == "succeeded" else "failed"
        return _with_query(
            return_url,
            {
                "payment_intent": pi["id"],
                "payment_intent_client_secret": pi["client_secret"],
                "redirect_status": status,
            },
        )
    invoice = invoice_collected_by(state, pi)
    if invoice is not None and invoice.get("hosted_invoice_url"):
        return f"/invoices/{invoice['id']}"
    return f"/authenticate/{pi['id']}"


def _pending_return_url(pi: Record) -> str | None:
    action = pi.get("next_action") or {}
    return (action.get("redirect_to_url") or {}).get("return_url")


def run(state: State, pi: Record, succeed: bool) -> Record:
    """Finish the challenge; refuses an intent that is not waiting for one."""
    if pi["status"] != "requires_action":
        raise InvalidRequest(
            f"This PaymentIntent is not waiting for authentication; its status is {pi['status']}.",
            param="payment_intent",
            code="payment_intent_unexpected_state",
        )
    return payments.authenticate(state, pi, succeed=succeed)


@page("GET", "/authenticate/{pi_id}")
def challenge(ctx: Ctx, pi_id: str) -> Response:
    pi = ctx.state.find(pi_id, "payment_intent")
    if pi is None:
        return not_found("payment to authenticate")
    if pi["status"] == "requires_action":
        pm = ctx.state.find(pi.get("payment_method"), "payment_method") or {}
        return Response.html(
            challenge_html(
                action=f"/authenticate/{pi_id}",
                amount=pi["amount"],
                currency=pi["currency"],
                merchant=merchant(ctx.state).name,
                card_last4=(pm.get("card") or {}).get("last4"),
            )
        )
    if pi["status"] == "succeeded":
        return message_page("Payment complete", "Authentication succeeded and the payment went through.")
    error = (pi.get("last_payment_error") or {}).get("message")
    return message_page("Payment not completed", error or f"This payment is {pi['status'].replace('_', ' ')}.")


@page("POST", "/authenticate/{pi_id}")
def challenge_result(ctx: Ctx, pi_id: str) -> Response:
    pi = ctx.state.find(pi_id, "payment_intent")
    if pi is None:
        return not_found("payment to authenticate")
    return_url = _pending_return_url(pi)
    if pi["status"] == "requires_action":
        payments.authenticate(ctx.state, pi, succeed=ctx.params.data.get("result") != "fail")
    return Response.redirect(destination(ctx.state, pi, return_url))


@sim("POST", "/_sim/payment_intents/{pi_id}/authenticate")
def sim_authenticate(ctx: Ctx, pi_id: str) -> Response:
    """Finish 3D Secure without a browser: `result=succeed|fail`. Answers the intent."""
    pi = ctx.state.get(pi_id, "payment_intent")
    result = ctx.params.str("result", default="succeed", choices=("succeed", "fail"))
    run(ctx.state, pi, result == "succeed")
    return Response.json(ctx.state.snapshot(pi))
