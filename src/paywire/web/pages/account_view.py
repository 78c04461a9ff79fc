"""What the account page shows, gathered in one place: the subscription as the mirror holds it,
what it grants (`entitlements`), what waits to happen to it (`pending_changes`), the next
invoice as Stripe would issue it (`upcoming`), the invoice history, and which operations its
lifecycle state allows (`lifecycle.allowed`), so the page offers only what would succeed.

Blocking (database and Stripe): call `load_account` from a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from paywire.billing.clock import customer_now
from paywire.billing.entitlements import Entitlement, entitlement_for, subscription_facts
from paywire.billing.errors import BillingError
from paywire.billing.lifecycle import LifecycleState, Operation, allowed, scheduled_end, state_of
from paywire.billing.pending_changes import PendingChange, PendingPayment, pending_change_of, pending_payment_of
from paywire.billing.upcoming import UpcomingInvoice, upcoming_invoice
from paywire.catalog import Catalog, Plan
from paywire.db.models import Invoice, Subscription, SubscriptionSchedule
from paywire.db.repositories import customers, invoices, subscriptions
from paywire.stripe import StripeError
from paywire.web.context import PaywireContext
from paywire.web.pages.render import words

log = logging.getLogger("paywire.web")

S = LifecycleState
# The lifecycle state in the user's words.
STATE_WORDS: Mapping[LifecycleState, str] = {
    S.TRIALING: "On a free trial",
    S.ACTIVE: "Active",
    S.CANCEL_PENDING: "Set to cancel at the end of the period",
    S.PAST_DUE: "Payment overdue",
    S.PAUSED: "Paused",
    S.UNPAID: "Unpaid",
    S.CANCELED: "Canceled",
    S.INCOMPLETE: "Waiting for the first payment",
    S.UNKNOWN: "Unknown",
}
INTERVAL_WORDS = {"month": "Monthly", "year": "Yearly"}
PER_SEAT_SUFFIX = "_per_seat"
MAX_INVOICES = 24


@dataclass(frozen=True)
class Limit:
    name: str
    value: int
    per_seat: int | None = None  # the per-seat allowance the value comes from, if any


@dataclass(frozen=True)
class PlanOption:
    """A plan offered in the change form."""

    key: str
    name: str
    prices: Mapping[str, int]
    per_seat: bool
    max_quantity: int


@dataclass(frozen=True)
class InvoiceRow:
    id: str
    date: int
    number: str | None
    amount: int
    currency: str
    status: str | None
    url: str | None


@dataclass(frozen=True)
class SubscriptionView:
    plan_key: str | None
    plan_name: str
    interval: str | None
    per_seat: bool
    max_quantity: int
    quantity: int
    state: LifecycleState
    current_period_end: int | None
    ends_at: int | None
    trial_end: int | None
    features: tuple[str, ...]
    limits: tuple[Limit, ...]
    upcoming: UpcomingInvoice | None
    upcoming_unknown: bool  # Stripe did not answer: the page says so instead of guessing
    fix_payment_url: str | None  # the open invoice of a failed renewal
    confirm_payment_url: str | None  # an invoice waiting for the cardholder (SCA) or a new card
    pending_change: PendingChange | None
    pending_change_name: str | None
    pending_payment: PendingPayment | None
    allowed: frozenset[Operation]
    has_discount: bool

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state]

    @property
    def interval_words(self) -> str:
        return INTERVAL_WORDS.get(self.interval or "", self.interval or "")

    def can(self, operation: str) -> bool:
        return Operation(operation) in self.allowed


@dataclass(frozen=True)
class PassView:
    plan_name: str
    until: int | None


@dataclass(frozen=True)
class AccountView:
    user_id: str
    email: str | None
    currency: str
    access: bool
    subscription: SubscriptionView | None
    pass_: PassView | None
    invoices: tuple[InvoiceRow, ...]
    plans: tuple[PlanOption, ...]
    has_billing_account: bool


def load_account(context: PaywireContext, user_id: str, email: str | None) -> AccountView:
    """Everything the account page shows for `user_id`."""
    catalog = context.catalog
    with context.sessions() as session:
        customer = customers.find_by_user(session, user_id)
        now = customer_now(session, customer, context.gateway)
        entitlement = entitlement_for(
            session,
            user_id,
            now,
            catalog=catalog,
            grace_seconds=context.settings.grace_seconds,
            gateway=context.gateway,
        )
        rows = subscriptions.for_user(session, user_id)
        row = _shown_subscription(entitlement, rows)
        shown = _subscription_view(context, session, row, now) if row is not None else None
        pass_ = None
        if entitlement.source == "pass" and entitlement.plan is not None:
            granted = catalog.plan(entitlement.plan)
            pass_ = PassView(granted.name if granted else entitlement.plan, entitlement.access_until)
        history = _invoices(session, rows, catalog.currency)
        return AccountView(
            user_id=user_id,
            email=email,
            currency=catalog.currency,
            access=entitlement.access,
            subscription=shown,
            pass_=pass_,
            invoices=history,
            plans=plan_options(catalog),
            has_billing_account=customer is not None,
        )


def plan_options(catalog: Catalog) -> tuple[PlanOption, ...]:
    return tuple(
        PlanOption(p.key, p.name, {str(k): v for k, v in p.prices.items()}, p.per_seat, p.max_quantity)
        for p in sorted(catalog.plans.values(), key=lambda p: p.rank)
    )


def limits_of(plan: Plan, quantity: int) -> tuple[Limit, ...]:
    """The plan's limits for `quantity` seats, per-seat allowances folded into their totals."""
    scaled = plan.limits_for(quantity)
    shown = []
    for name, value in scaled.items():
        if name.endswith(PER_SEAT_SUFFIX):
            continue
        per_seat = plan.limits.get(name + PER_SEAT_SUFFIX) if plan.per_seat else None
        shown.append(Limit(words(name), value, per_seat))
    return tuple(shown)


def _shown_subscription(entitlement: Entitlement, rows: Sequence[Subscription]) -> Subscription | None:
    """The entitlement's subscription; else the live one; else the latest (ended) one."""
    if entitlement.source == "subscription":
        for row in rows:
            if row.id == entitlement.subscription_id:
                return row
    live = [r for r in rows if r.status in subscriptions.LIVE_STATUSES]
    candidates = live or list(rows)
    return candidates[0] if candidates else None


def _subscription_view(context: PaywireContext, session: Session, row: Subscription, now: int) -> SubscriptionView:
    catalog = context.catalog
    [facts] = subscription_facts([row])
    state = state_of(facts)
    plan = catalog.plan(row.plan) if row.plan else None
    schedule = session.get(SubscriptionSchedule, row.schedule_id) if row.schedule_id else None
    latest = session.get(Invoice, row.latest_invoice_id) if row.latest_invoice_id else None
    pending_change = pending_change_of(catalog, row, schedule)
    pending_payment = pending_payment_of(row, latest, now)
    upcoming, unknown = None, False
    try:
        upcoming = upcoming_invoice(
            context.gateway,
            catalog,
            context.prices,
            row,
            state,
            pending_change,
            automatic_tax=context.settings.automatic_tax,
        )
    except (StripeError, BillingError) as exc:
        log.info("next invoice of %s not previewed: %r", row.id, exc)
        unknown = True
    pending_plan = catalog.plan(pending_change.plan) if pending_change and pending_change.plan else None
    return SubscriptionView(
        plan_key=row.plan,
        plan_name=plan.name if plan else (row.plan or "Unknown plan"),
        interval=row.interval,
        per_seat=bool(plan and plan.per_seat),
        max_quantity=plan.max_quantity if plan else 1,
        quantity=row.quantity,
        state=state,
        current_period_end=row.current_period_end,
        ends_at=scheduled_end(facts),
        trial_end=row.trial_end if state is S.TRIALING else None,
        features=plan.features if plan else (),
        limits=limits_of(plan, row.quantity) if plan else (),
        upcoming=upcoming,
        upcoming_unknown=unknown,
        fix_payment_url=_open_invoice_url(session, row, latest) if state in (S.PAST_DUE, S.UNPAID) else None,
        confirm_payment_url=_confirm_url(session, row, latest, state, pending_payment),
        pending_change=pending_change,
        pending_change_name=pending_plan.name if pending_plan else (pending_change.plan if pending_change else None),
        pending_payment=pending_payment,
        allowed=frozenset(op for op in Operation if allowed(state, op)),
        has_discount=bool((row.stripe_object or {}).get("discounts")),
    )


def _open_invoice_url(session: Session, row: Subscription, latest: Invoice | None) -> str | None:
    """Where to pay what is owed: the latest invoice if open, else the newest open one."""
    if latest is not None and latest.status == "open" and latest.hosted_invoice_url:
        return latest.hosted_invoice_url
    for invoice in invoices.for_subscription(session, row.id):
        if invoice.status == "open" and invoice.hosted_invoice_url:
            return invoice.hosted_invoice_url
    return None


def _confirm_url(
    session: Session,
    row: Subscription,
    latest: Invoice | None,
    state: LifecycleState,
    pending_payment: PendingPayment | None,
) -> str | None:
    if pending_payment is not None:
        return pending_payment.hosted_invoice_url or _open_invoice_url(session, row, latest)
    if state is S.INCOMPLETE and row.status == "incomplete":
        return _open_invoice_url(session, row, latest)
    return None


def _invoices(session: Session, rows: Sequence[Subscription], currency: str) -> tuple[InvoiceRow, ...]:
    # Drafts are Stripe's work in progress, not yet the customer's to see (no hosted page either).
    found = [i for row in rows for i in invoices.for_subscription(session, row.id) if i.status != "draft"]
    found.sort(key=lambda i: (i.stripe_created, i.id), reverse=True)
    return tuple(
        InvoiceRow(
            id=i.id,
            date=i.stripe_created,
            number=(i.stripe_object or {}).get("number"),
            amount=int((i.stripe_object or {}).get("total", i.amount_due) or 0),
            currency=i.currency or currency,
            status=i.status,
            url=i.hosted_invoice_url,
        )
        for i in found[:MAX_INVOICES]
    )
