"""Refunds paywire makes: an admin's (`POST /api/admin/refunds`, the `/admin` page) and a
customer's own within the self-service window (`PAYWIRE_SELF_REFUND_DAYS`, the account page).

A payment is named as `GET /api/billing/payments` lists it: an invoice (`in_…`) or a one-time
purchase (`cs_…`, its Checkout Session). Its charge is read from Stripe, so what is left to
refund is Stripe's figure, never the mirror's: a refund larger than that is refused with the
figures and nothing changes.

Each request is done once (`refund_requests`): the caller's `Idempotency-Key`, or else the
request itself (payment, amount, reason, who asked) for 24 hours, so the same request sent
twice refunds once and the second answer is the first one's (`replayed`). Stripe is asked with
an idempotency key derived from the request, and the refund names the request in its metadata
(`paywire_request`): a request whose maker stopped part way (a crash) is finished by the next one
after a minute, which finds the refund already made rather than making a second.

What access does after a refund is decided when Stripe's events say the refund went through
(`paywire.events.payment_appliers`), for refunds made here or in the Dashboard alike: a fully
refunded pass ends at once; a fully refunded subscription payment ends the subscription now or
at the period end (`PAYWIRE_REFUND_ACCESS`); a partial refund keeps access.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.clock import customer_now
from paywire.billing.errors import PaymentNotFound, Refused
from paywire.config import Settings
from paywire.db.models import utcnow
from paywire.db.repositories import customers, invoices, orders
from paywire.db.repositories import refunds as refund_rows
from paywire.mirror import read_version
from paywire.mirror.refunds import PAYMENT_KEY, REQUESTED_BY_KEY, write_refund
from paywire.stripe import Kind, StripeGateway, StripeNotFound, StripeRejected
from paywire.stripe import idempotency as keys
from paywire.stripe.ids import id_of
from paywire.stripe.payments import REFUND_REASONS

REQUEST_KEPT = timedelta(hours=24)
# A request still without its answer after this long was left by a maker that stopped.
IN_PROGRESS = timedelta(seconds=60)
# The refund's metadata naming the request it serves (`refund_requests`).
REQUEST_KEY = "paywire_request"
SELF = "self"
DAY = 86_400


@dataclass(frozen=True)
class RefundablePayment:
    """A payment as Stripe holds it now: its charge and what of it is left to refund."""

    payment_id: str
    kind: str  # "purchase" | "subscription" | "invoice"
    user_id: str | None
    stripe_customer_id: str | None
    charge: dict[str, Any]
    subscription_id: str | None = None

    @property
    def paid(self) -> int:
        return int(self.charge.get("amount_captured") or self.charge.get("amount") or 0)

    @property
    def refunded(self) -> int:
        return int(self.charge.get("amount_refunded") or 0)

    @property
    def left(self) -> int:
        return self.paid - self.refunded

    @property
    def currency(self) -> str:
        return str(self.charge.get("currency") or "usd")


def check_request(amount: Any, reason: Any) -> tuple[int | None, str]:
    """The amount (None: all that is left) and reason of a request, or `Refused`. Pure."""
    if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0):
        raise Refused(
            "amount is a positive whole number of the currency's smallest unit.", code="invalid", field="amount"
        )
    if reason not in REFUND_REASONS:
        raise Refused(f"reason is one of {', '.join(REFUND_REASONS)}.", code="invalid", field="reason")
    return amount, str(reason)


def request_key(payment_id: str, amount: int | None, reason: str, requested_by: str, given: str | None) -> str:
    """The request's key: the caller's Idempotency-Key, or the request itself."""
    if given:
        return "key:" + hashlib.sha256(f"{requested_by}\x00{given}".encode()).hexdigest()[:56]
    said = f"{payment_id}\x00{amount if amount is not None else 'all'}\x00{reason}\x00{requested_by}"
    return "req:" + hashlib.sha256(said.encode()).hexdigest()[:56]


def find_payment(session: Session, gateway: StripeGateway, payment_id: str) -> RefundablePayment:
    """The payment `payment_id` names, with its charge read from Stripe."""
    if not isinstance(payment_id, str) or not payment_id.startswith(("cs_", "in_")):
        raise PaymentNotFound("payment is the id of a payment as GET /api/billing/payments lists it (in_… or cs_…).")
    if payment_id.startswith("cs_"):
        order = orders.find_by_checkout_session(session, payment_id)
        if order is None:
            raise PaymentNotFound(f"No payment {payment_id!r}.")
        if order.payment_intent_id is None or order.status not in ("paid", "fulfilled", "refunded"):
            raise Refused(f"Payment {payment_id} was not paid: there is nothing to refund.", code="not_refundable")
        charge = _charge_of_intent(gateway, order.payment_intent_id, payment_id)
        return RefundablePayment(payment_id, "purchase", order.user_id, order.stripe_customer_id, charge)
    invoice = invoices.find(session, payment_id)
    if invoice is None:
        raise PaymentNotFound(f"No payment {payment_id!r}.")
    if invoice.status != "paid" or not invoice.amount_paid:
        raise Refused(f"Invoice {payment_id} is {invoice.status}: nothing was paid to refund.", code="not_refundable")
    intent_id = None
    for paid in gateway.list_invoice_payments(payment_id):
        if paid.get("status") == "paid":
            intent_id = id_of((paid.get("payment") or {}).get("payment_intent"))
            if intent_id:
                break
    if intent_id is None:
        raise Refused(f"Invoice {payment_id} was not paid by card: refund it in Stripe.", code="not_refundable")
    customer = customers.find_by_stripe_id(session, invoice.stripe_customer_id) if invoice.stripe_customer_id else None
    kind = "subscription" if invoice.subscription_id else "invoice"
    return RefundablePayment(
        payment_id,
        kind,
        customer.user_id if customer is not None else None,
        invoice.stripe_customer_id,
        _charge_of_intent(gateway, intent_id, payment_id),
        subscription_id=invoice.subscription_id,
    )


def _charge_of_intent(gateway: StripeGateway, intent_id: str, payment_id: str) -> dict[str, Any]:
    try:
        intent = gateway.retrieve(Kind.PAYMENT_INTENT, intent_id)
        charge_id = id_of(intent.get("latest_charge"))
        if charge_id is None:
            raise Refused(f"Payment {payment_id} has no charge to refund.", code="not_refundable")
        return gateway.retrieve(Kind.CHARGE, charge_id)
    except StripeNotFound:
        raise PaymentNotFound(f"The payment {payment_id} is no longer in Stripe.") from None


def refund_payment(
    session: Session,
    gateway: StripeGateway,
    *,
    payment_id: str,
    amount: int | None,
    reason: str,
    requested_by: str,
    idempotency_key: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Refund `amount` of the payment (None: all that is left), once per request. Returns
    what was done: `{"refund", "payment", "amount", "currency", "status", "reason",
    "refunded", "left", "replayed"}`. Raises `Refused` / `PaymentNotFound` having changed
    nothing."""
    amount, reason = check_request(amount, reason)
    key = key or request_key(payment_id, amount, reason, requested_by, idempotency_key)
    expires = utcnow() + REQUEST_KEPT
    before = refund_rows.open_request(
        session, key=key, payment_id=payment_id, requested_by=requested_by, expires_at=expires
    )
    if before is not None:
        if before.payment_id != payment_id:
            raise Refused(
                "This Idempotency-Key was used for another payment.", code="idempotency_key_reused", status=409
            )
        if before.answer is not None:
            return {**before.answer, "replayed": True}
        if _aware(before.created_at) > utcnow() - IN_PROGRESS:
            raise Refused(
                "The same refund is being made; try again in a moment.", code="refund_in_progress", status=409
            )
        # Its maker stopped part way (a crash): this one finishes it (Stripe has at most one
        # refund of the request, found by its metadata).
    try:
        answer = _refund(session, gateway, key, payment_id, amount, reason, requested_by)
    except BaseException:
        refund_rows.drop_request(session, key)
        raise
    refund_rows.finish_request(session, key, answer)
    return answer


def _refund(
    session: Session,
    gateway: StripeGateway,
    key: str,
    payment_id: str,
    amount: int | None,
    reason: str,
    requested_by: str,
) -> dict[str, Any]:
    payment = find_payment(session, gateway, payment_id)
    charge_id = str(payment.charge["id"])
    made = [
        r for r in gateway.payments.refunds_of_charge(charge_id) if (r.get("metadata") or {}).get(REQUEST_KEY) == key
    ]
    if made:  # this request's refund was made by an attempt that did not finish
        return _answer(session, payment, made[0], reason, int(made[0].get("amount") or 0), read_version(), already=True)
    money = f"{payment.currency.upper()} "
    if payment.charge.get("disputed"):
        raise Refused(
            f"Payment {payment_id} is disputed: the bank decides, a refund is not possible now.",
            code="charge_disputed",
            status=409,
        )
    if payment.left <= 0:
        raise Refused(f"Payment {payment_id} is already refunded in full.", code="already_refunded", status=409)
    wanted = payment.left if amount is None else amount
    if wanted > payment.left:
        raise Refused(
            f"A refund of payment {payment_id} is at most {money}{payment.left / 100:.2f}: {money}"
            f"{payment.paid / 100:.2f} was paid and {money}{payment.refunded / 100:.2f} refunded already.",
            code="amount_too_large",
            field="amount",
        )
    metadata = {PAYMENT_KEY: payment_id, REQUESTED_BY_KEY: requested_by, REQUEST_KEY: key, "paywire_reason": reason}
    if payment.user_id:
        metadata["user_id"] = payment.user_id
    version = read_version()
    try:
        refund = gateway.payments.refund(
            charge_id=charge_id,
            amount=wanted,
            reason=reason,
            metadata=metadata,
            idempotency_key=keys.payment_refund(key, charge_id),
        )
    except StripeRejected as exc:
        raise Refused(f"Stripe refused the refund: {exc}", code=exc.code or "refund_rejected", status=409) from None
    return _answer(session, payment, refund, reason, wanted, version, already=False)


def _answer(
    session: Session,
    payment: RefundablePayment,
    refund: dict[str, Any],
    reason: str,
    amount: int,
    version: int,
    *,
    already: bool,
) -> dict[str, Any]:
    """The refund kept in the mirror, and the request's answer (`already`: the charge's
    figures include it)."""
    write_refund(session, refund, version=version, user_id=payment.user_id, payment_id=payment.payment_id)
    session.commit()
    refunded = payment.refunded if already else payment.refunded + amount
    return {
        "refund": refund["id"],
        "payment": payment.payment_id,
        "kind": payment.kind,
        "amount": amount,
        "currency": payment.currency,
        "status": refund.get("status"),
        "reason": reason,
        "refunded": refunded,
        "left": payment.paid - refunded,
        "replayed": already,
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def self_refund_window(settings: Settings, session: Session, user_id: str, payment_id: str) -> str | None:
    """Why the customer may not refund this purchase themselves (None: they may)."""
    if settings.self_refund_days <= 0:
        return "Refunds are made by our team: contact support."
    order = orders.find_by_checkout_session(session, payment_id)
    if order is None or order.user_id != user_id:
        return "No such purchase of yours."
    if order.status not in ("paid", "fulfilled") or order.paid_at is None:
        return "This purchase cannot be refunded."
    if any(r.status != "failed" for r in refund_rows.self_refunds_of(session, user_id)):
        return "You already refunded a purchase yourself: contact support for another."
    if refund_rows.refunded(refund_rows.of_payments(session, [payment_id])) > 0:
        return "This purchase was refunded already."
    now = customer_now(session, customers.find_by_user(session, user_id))
    if now - order.paid_at > settings.self_refund_days * DAY:
        return f"Purchases can be refunded here within {settings.self_refund_days} days."
    return None


def self_refundable(settings: Settings, session: Session, user_id: str, payment_id: str) -> bool:
    """The account page offers the customer's own refund of this purchase."""
    return settings.self_refund_days > 0 and self_refund_window(settings, session, user_id, payment_id) is None


def refund_own_purchase(
    session: Session, gateway: StripeGateway, settings: Settings, *, user_id: str, payment_id: str
) -> dict[str, Any]:
    """A customer's own refund of a one-time purchase, in full, within the window, once."""
    refused = self_refund_window(settings, session, user_id, payment_id)
    if refused is not None:
        raise Refused(refused, code="self_refund_not_allowed", field="payment", status=403)
    return refund_payment(
        session,
        gateway,
        payment_id=payment_id,
        amount=None,
        reason="requested_by_customer",
        requested_by=SELF,
        key="self:" + hashlib.sha256(f"{user_id}\x00{payment_id}".encode()).hexdigest()[:56],
    )
