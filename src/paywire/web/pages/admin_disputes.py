"""The team's refunds and disputes on `/admin`, for admins signed in to the pages.

    POST /admin/refunds                        refund a payment (id, amount, reason)
    GET  /admin/disputes/{id}                  a dispute and its evidence draft, editable
    POST /admin/disputes/{id}/evidence         save the edits (`action=save`), stage them to
                                               Stripe (`stage`) or submit them (`submit`, once)
    POST /admin/disputes/{id}/accept           accept the dispute (it is lost)

Each form calls the same operation as the JSON API (`paywire.billing.refunds`, `.evidence`); a
refusal changes nothing and comes back as the page's message (a 303, so a reload never sends a
form twice).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from paywire.billing import evidence, refunds
from paywire.billing.disputes import dispute_dict
from paywire.billing.errors import BillingError, Refused
from paywire.context import PaywireContext
from paywire.stripe import StripeError
from paywire.web.context import Context
from paywire.web.pages.csrf import checked_form
from paywire.web.pages.errors import PageError
from paywire.web.pages.render import redirect_with_flash, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import PageUser, SignedInPageUser

ADMIN = "/admin"
router = page_router()
REASONS = {
    "requested_by_customer": "Requested by the customer",
    "duplicate": "Duplicate payment",
    "fraudulent": "Fraudulent",
}
FIELD_LABELS = {
    "customer_name": "Customer's name",
    "customer_email_address": "Customer's email",
    "customer_purchase_ip": "IP address of the purchase",
    "product_description": "Product or service",
    "service_date": "Date of service",
    "access_activity_log": "Access and use",
    "refund_policy_disclosure": "Terms and refund policy shown at checkout",
    "cancellation_policy_disclosure": "Cancellation policy",
    "cancellation_rebuttal": "Why the cancellation does not apply",
    "refund_refusal_explanation": "Why no refund was given",
    "uncategorized_text": "Rebuttal and other evidence",
}
LONG_FIELDS = (
    "access_activity_log",
    "uncategorized_text",
    "refund_policy_disclosure",
    "cancellation_policy_disclosure",
)


def require_admin(context: PaywireContext, user: PageUser) -> None:
    if user.user_id not in context.settings.admin_users:
        raise PageError(
            403,
            "Admins only",
            f"This dashboard is for the users listed in PAYWIRE_ADMIN_USERS. You are signed in as {user.user_id}.",
        )


def amount_in_cents(text: str) -> int | None:
    """A form's amount in major units (`12.50`), in cents; blank: all that is left."""
    if not text.strip():
        return None
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise Refused("The amount is a number, such as 12.50.", code="invalid", field="amount") from None
    cents = value * 100
    if cents != cents.to_integral_value() or cents <= 0:
        raise Refused("The amount is positive, in whole cents.", code="invalid", field="amount")
    return int(cents)


@router.post(ADMIN + "/refunds", response_model=None)
async def refund(request: Request, user: SignedInPageUser, context: Context) -> Response:
    require_admin(context, user)
    form = await checked_form(request)

    def work() -> str:
        with context.sessions() as session:
            done = refunds.refund_payment(
                session,
                context.gateway,
                payment_id=form.get("payment", "").strip(),
                amount=amount_in_cents(form.get("amount", "")),
                reason=form.get("reason", ""),
                requested_by=user.user_id,
            )
        again = " (this request was already made: nothing more was refunded)" if done["replayed"] else ""
        return f"Refunded {done['amount'] / 100:.2f} {done['currency'].upper()} of {done['payment']}{again}."

    return await _act(request, ADMIN + "#refunds", work)


@router.get(ADMIN + "/disputes/{dispute_id}")
async def dispute_page(dispute_id: str, request: Request, user: SignedInPageUser, context: Context) -> HTMLResponse:
    require_admin(context, user)

    def load() -> dict[str, Any]:
        with context.sessions() as session:
            draft = evidence.draft_for(session, context.gateway, context.catalog, dispute_id)
            found = dispute_dict(evidence.find_dispute(session, dispute_id))
            return {"dispute": found, "evidence": evidence.evidence_dict(draft)}

    try:
        values = await run_in_threadpool(load)
    except Refused as exc:
        raise PageError(exc.status, "No such dispute", exc.message) from None
    return render(
        request,
        "admin_dispute.html",
        title=f"Dispute {dispute_id}",
        active="admin",
        labels=FIELD_LABELS,
        long_fields=LONG_FIELDS,
        **values,
    )


@router.post(ADMIN + "/disputes/{dispute_id}/evidence", response_model=None)
async def dispute_evidence(dispute_id: str, request: Request, user: SignedInPageUser, context: Context) -> Response:
    require_admin(context, user)
    form = await checked_form(request)
    action = form.get("action", "save")
    fields = {name: form[name] for name in evidence.TEXT_FIELDS if name in form}

    def work() -> str:
        with context.sessions() as session:
            evidence.draft_for(session, context.gateway, context.catalog, dispute_id)
            if fields:
                evidence.edit(session, dispute_id, fields, by=user.user_id)
            if action == "stage":
                evidence.send(session, context.gateway, context.catalog, dispute_id, submit=False, by=user.user_id)
                return "Evidence staged in Stripe; it can still change until it is submitted."
            if action == "submit":
                evidence.send(session, context.gateway, context.catalog, dispute_id, submit=True, by=user.user_id)
                return "Evidence submitted to the bank. Stripe takes it once: the dispute is under review."
        return "Evidence saved."

    return await _act(request, f"{ADMIN}/disputes/{dispute_id}", work)


@router.post(ADMIN + "/disputes/{dispute_id}/accept", response_model=None)
async def accept(dispute_id: str, request: Request, user: SignedInPageUser, context: Context) -> Response:
    require_admin(context, user)
    await checked_form(request)

    def work() -> str:
        with context.sessions() as session:
            evidence.accept(session, context.gateway, dispute_id, by=user.user_id)
        return "Dispute accepted: it is closed as lost."

    return await _act(request, f"{ADMIN}/disputes/{dispute_id}", work)


async def _act(request: Request, back: str, work: Any) -> Response:
    try:
        message = await run_in_threadpool(work)
    except (BillingError, StripeError) as exc:
        text = exc.message if isinstance(exc, BillingError) else f"Stripe refused the request: {exc}"
        return redirect_with_flash(request, back, text, kind="error")
    return redirect_with_flash(request, back, message, kind="success")
