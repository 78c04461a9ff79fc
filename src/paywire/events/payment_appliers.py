"""The work the events about a payment after the fact share: refunds (`refund.*`,
`charge.refunded`) and disputes (`charge.dispute.*`). Each re-reads its object and the charge
it is about, writes it through the mirror under the version rule, and records the facts its
state shows.

Whose payment: the order of a one-time purchase (by its payment intent: the payment is the
Checkout Session `cs_…`), else the invoice the payment intent paid (`in_…`, asked of Stripe's
invoice payments), and the user behind the charge's customer.

What access does (`PAYWIRE_REFUND_ACCESS` for subscriptions): a pass whose payment is fully
refunded, or whose dispute is lost, ends at once (its order is `refunded`, in this
transaction); a subscription whose payment is fully refunded, or whose dispute is lost, is
ended by the `end_access` reaction of the fact `refund_ends_access:<subscription>` or
`dispute_lost:<dispute>` (canceled now, or at the period end). A partial refund keeps access.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paywire.billing.disputes import reminder_fact
from paywire.db.models import Dispute, Order
from paywire.db.repositories import disputes as dispute_rows
from paywire.db.repositories import invoices, orders
from paywire.events.handling import EventGroup, FactRule, HandlerContext
from paywire.mirror import read_version
from paywire.mirror.customers import customer_time, user_for
from paywire.mirror.disputes import Owner, dispute_facts, write_dispute
from paywire.mirror.refunds import payment_of, refund_facts, write_refund
from paywire.outbox import Fact
from paywire.stripe import Kind, StripeNotFound
from paywire.stripe.ids import id_of

CLOSED = ("won", "lost", "warning_closed", "prevented")
ENDED = ("canceled", "incomplete_expired")
UNUSED_TIME = "unused_time"


@dataclass(frozen=True)
class Paid:
    """A charge's payment as paywire knows it."""

    owner: Owner
    order: Order | None = None  # a one-time purchase
    subscription_id: str | None = None  # an invoice of this subscription


def payment_of_charge(ctx: HandlerContext, charge: dict[str, Any], hint: str | None = None) -> Paid:
    """Whose payment the charge is, and which (`hint`: the payment a refund's metadata names)."""
    session = ctx.mirror.session
    customer_id = id_of(charge.get("customer"))
    user_id = user_for(session, customer_id, charge)
    intent_id = id_of(charge.get("payment_intent"))
    if intent_id is None:
        return Paid(Owner(user_id, customer_id, hint))
    order = orders.find_by_payment_intent(session, intent_id)
    if order is not None:
        return Paid(Owner(order.user_id, customer_id or order.stripe_customer_id, order.checkout_session_id), order)
    invoice_id = hint if hint and hint.startswith("in_") else None
    if invoice_id is None:
        invoice_id = ctx.gateway.payments.invoice_paid_by(intent_id)
    if invoice_id is None:
        return Paid(Owner(user_id, customer_id, hint))
    row = invoices.find(session, invoice_id)
    subscription_id = row.subscription_id if row is not None else None
    if row is None:
        try:
            invoice = ctx.mirror.reads.read(Kind.INVOICE, invoice_id).obj
        except StripeNotFound:
            invoice = {}
        parent = (invoice.get("parent") or {}).get("subscription_details") or {}
        subscription_id = id_of(parent.get("subscription"))
    return Paid(Owner(user_id, customer_id, invoice_id), subscription_id=subscription_id)


def _read_charge(ctx: HandlerContext, charge_id: str | None) -> dict[str, Any]:
    if charge_id is None:
        return {}
    try:
        return ctx.mirror.reads.read(Kind.CHARGE, charge_id).obj
    except StripeNotFound:
        return {}


def fully_refunded(charge: dict[str, Any]) -> bool:
    captured = int(charge.get("amount_captured") or charge.get("amount") or 0)
    return captured > 0 and int(charge.get("amount_refunded") or 0) >= captured


def access_after_refund(ctx: HandlerContext, charge: dict[str, Any], paid: Paid) -> tuple[list[Fact], str]:
    """A fully refunded payment ends what it paid for: a pass now (here), a subscription by
    the `end_access` reaction. A partial refund keeps access."""
    if not fully_refunded(charge):
        return [], "partially refunded: access kept"
    if paid.order is not None:
        changed = orders.mark_refunded(ctx.mirror.session, paid.order)
        return [], f"order {paid.order.id} {'refunded: the pass ended' if changed else 'already refunded'}"
    if paid.subscription_id is None:
        return [], "fully refunded"
    try:  # Stripe's word, not the mirror's: a cancellation just before the refund ends it already
        status = ctx.mirror.reads.read(Kind.SUBSCRIPTION, paid.subscription_id).obj.get("status")
    except StripeNotFound:
        status = "canceled"
    if status in ENDED:
        return [], f"fully refunded: {paid.subscription_id} already ended"
    payload = {
        "subscription_id": paid.subscription_id,
        "payment_id": paid.owner.payment_id,
        "charge_id": charge.get("id"),
        "cause": "refund",
    }
    key = f"refund_ends_access:{paid.subscription_id}"
    fact = Fact("refund_ends_access", key, paid.owner.user_id, paid.subscription_id, payload)
    return [fact], f"fully refunded: {paid.subscription_id}'s access ends"


def mirror_refund(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    """`refund.created|updated|failed`: the refund, its charge, and their facts."""
    refund_id = group.object_id
    try:
        read = ctx.mirror.reads.read(Kind.REFUND, refund_id)
    except StripeNotFound:
        return f"{refund_id} not found in Stripe: nothing to mirror"
    return _keep_refunds(ctx, _read_charge(ctx, id_of(read.obj.get("charge"))), [read.obj], read.version)


def mirror_charge_refunds(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    """`charge.refunded`: every refund of the charge, and what access does."""
    charge = _read_charge(ctx, group.object_id)
    if not charge:
        return f"{group.object_id} not found in Stripe: nothing refunded here"
    version = read_version()
    refunds = ctx.gateway.payments.refunds_of_charge(str(charge["id"]))
    return _keep_refunds(ctx, charge, refunds, version)


def _keep_refunds(ctx: HandlerContext, charge: dict[str, Any], refunds: list[dict[str, Any]], version: int) -> str:
    hint = next((p for p in (payment_of(r) for r in refunds) if p), None)
    paid = payment_of_charge(ctx, charge, hint) if charge else Paid(Owner(payment_id=hint))
    facts: list[Fact] = []
    states = []
    for refund in refunds:
        payment_id = payment_of(refund) or paid.owner.payment_id
        write_refund(ctx.mirror.session, refund, version=version, user_id=paid.owner.user_id, payment_id=payment_id)
        facts.extend(refund_facts(refund, user_id=paid.owner.user_id, payment_id=payment_id))
        states.append(f"{refund['id']} {refund.get('status')} {refund.get('amount')}")
    # A cancellation's refund of the unused time (`cancel_now`) ends nothing more.
    unused_time = any((r.get("metadata") or {}).get("paywire_reason") == UNUSED_TIME for r in refunds)
    access, note = access_after_refund(ctx, charge, paid) if charge and not unused_time else ([], "access unchanged")
    ctx.mirror.record_facts(facts + access)
    return f"{', '.join(states) or 'no refunds'} of {paid.owner.payment_id or charge.get('id')}: {note}"


def mirror_dispute(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    """`charge.dispute.*`: the dispute (amount, reason, status, deadline, evidence's state),
    whose payment it is, the team's alert, the reminders due, and a lost one's end of access."""
    dispute_id = group.object_id
    try:
        read = ctx.mirror.reads.read(Kind.DISPUTE, dispute_id)
    except StripeNotFound:
        return f"{dispute_id} not found in Stripe: nothing to mirror"
    dispute = read.obj
    charge = _read_charge(ctx, id_of(dispute.get("charge")))
    paid = payment_of_charge(ctx, charge) if charge else Paid(Owner())
    status = str(dispute.get("status"))
    closed_at = max(int(e.get("created") or 0) for e in group.events) if status in CLOSED else None
    session = ctx.mirror.session
    write_dispute(session, dispute, paid.owner, version=read.version, closed_at=closed_at)
    facts = dispute_facts(dispute, paid.owner)
    row = session.get(Dispute, dispute_id, populate_existing=True)
    if row is not None:
        reminder = reminder_fact(row, customer_time(ctx.mirror, paid.owner.stripe_customer_id))
        facts.extend([reminder] if reminder is not None else [])
    note = ""
    if status == "lost":
        facts.append(lost_fact(dispute, paid))
        if paid.order is not None:
            orders.mark_refunded(session, paid.order)
            note = f": order {paid.order.id}'s pass ended"
    ctx.mirror.record_facts(facts)
    return f"{dispute_id} {status} for {paid.owner.payment_id or id_of(dispute.get('charge'))}{note}"


def lost_fact(dispute: dict[str, Any], paid: Paid) -> Fact:
    payload = {
        "dispute_id": dispute["id"],
        "subscription_id": paid.subscription_id,
        "payment_id": paid.owner.payment_id,
        "amount": dispute.get("amount"),
        "currency": dispute.get("currency"),
        "reason": dispute.get("reason"),
        "cause": "dispute_lost",
    }
    return Fact("dispute_lost", f"dispute_lost:{dispute['id']}", paid.owner.user_id, dispute["id"], payload)


def clock_reminders(ctx: HandlerContext, clock_id: str) -> int:
    """A test clock moved: the reminders now due for its customers' disputes."""
    found = [
        fact
        for dispute, frozen in dispute_rows.awaiting_evidence(ctx.mirror.session, clock_id)
        if frozen is not None and (fact := reminder_fact(dispute, frozen)) is not None
    ]
    return len(ctx.mirror.record_facts(found))
