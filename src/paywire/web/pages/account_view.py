"""What the account page shows, gathered in one place: the subscription as the mirror holds it,
what it grants (`entitlements`; its features only while it grants access), what waits to happen
to it (`pending_changes`), the next invoice as Stripe would issue it (`upcoming`), a running
pass and what buying another would extend it to, the payment history (`billing.payments`,
as `GET /api/billing/payments` lists it), the card on file (read from Stripe), and which
operations the lifecycle state allows (`lifecycle.allowed`), so the page offers only what would
succeed.

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
from paywire.billing.lifecycle import access as lifecycle_access
from paywire.billing.passes import add_calendar_months, runs_until
from paywire.billing.payments import Card, Payment, card_on_file, payments_of
from paywire.billing.pending_changes import PendingChange, PendingPayment, pending_change_of, pending_payment_of
from paywire.billing.refunds import self_refundable
from paywire.billing.upcoming import UpcomingInvoice, upcoming_invoice
from paywire.catalog import Catalog, OneTimeProduct, Plan
from paywire.context import PaywireContext
from paywire.db.models import Customer, Invoice, Subscription, SubscriptionSchedule
from paywire.db.repositories import customers, invoices, orders, subscriptions
from paywire.stripe import StripeError
from paywire.stripe.ids import id_of
from paywire.usage import MeterUsage
from paywire.usage.allowance import usage_of
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
# Why a subscription that grants nothing now shows no features.
NO_ACCESS_WORDS: Mapping[LifecycleState, str] = {
    S.PAUSED: "Your plan's features are off while the subscription is paused; unpause it to use them again.",
    S.PAST_DUE: "Your plan's features are off until the overdue invoice is paid.",
    S.UNPAID: "Your plan's features are off until the unpaid invoice is paid.",
    S.CANCELED: "The subscription has ended: its features are off.",
    S.CANCEL_PENDING: "The subscription has ended: its features are off.",
    S.INCOMPLETE: "Your plan's features start once the first payment goes through.",
}
INTERVAL_WORDS = {"month": "Monthly", "year": "Yearly"}
PER_SEAT_SUFFIX = "_per_seat"
MAX_PAYMENTS = 24
BRANDS = {
    "amex": "American Express",
    "diners": "Diners Club",
    "discover": "Discover",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}
PAYMENT_STATUS_WORDS = {
    "paid": "Paid",
    "open": "Due",
    "void": "Void",
    "uncollectible": "Uncollectible",
    "refunded": "Refunded",
}


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
class PaymentRow:
    payment: Payment
    # The customer may refund it themselves now (a purchase within PAYWIRE_SELF_REFUND_DAYS, once).
    self_refundable: bool = False

    @property
    def status_words(self) -> str:
        return PAYMENT_STATUS_WORDS.get(self.payment.status, self.payment.status.capitalize())


@dataclass(frozen=True)
class CardView:
    card: Card

    @property
    def brand(self) -> str:
        return BRANDS.get(self.card.brand.lower(), self.card.brand.title())

    @property
    def expiry(self) -> str:
        return f"{self.card.exp_month:02d}/{self.card.exp_year}"


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
    confirm_payment_url: str | None  # an invoice waiting for the customer to confirm (SCA) or a new card
    pending_change: PendingChange | None
    pending_change_name: str | None
    pending_payment: PendingPayment | None
    allowed: frozenset[Operation]
    has_discount: bool
    access: bool  # whether it grants its plan right now (its features are shown only then)

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state]

    @property
    def no_access_words(self) -> str:
        return NO_ACCESS_WORDS.get(self.state, "Your plan's features are off.")

    @property
    def interval_words(self) -> str:
        return INTERVAL_WORDS.get(self.interval or "", self.interval or "")

    def can(self, operation: str) -> bool:
        return Operation(operation) in self.allowed


@dataclass(frozen=True)
class PassView:
    """A pass that runs now: what it grants, until when, and what buying another would do."""

    product: OneTimeProduct
    plan_name: str
    until: int
    extends_to: int  # the end of access if another pass were bought now
    receipt_url: str | None  # the latest pass's
    features: tuple[str, ...]
    can_buy_again: bool  # no subscription that would refuse a purchase


@dataclass(frozen=True)
class AccountView:
    user_id: str
    email: str | None
    currency: str
    access: bool
    subscription: SubscriptionView | None
    pass_: PassView | None
    payments: tuple[PaymentRow, ...]
    plans: tuple[PlanOption, ...]
    has_billing_account: bool
    card: CardView | None
    card_unknown: bool  # Stripe did not answer: the page says so instead of guessing
    usage: tuple[MeterUsage, ...] = ()  # each meter the plan bills, this period (paywire.usage)


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
        live = any(r.status in subscriptions.LIVE_STATUSES for r in rows)
        history = payments_of(session, catalog, user_id)[:MAX_PAYMENTS]
        card, card_unknown = _card(context, customer, rows)
        usage = usage_of(session, catalog, context.usage.accounts.account(session, user_id))
        return AccountView(
            user_id=user_id,
            email=email,
            currency=catalog.currency,
            access=entitlement.access,
            subscription=shown,
            pass_=running_pass(session, catalog, user_id, now, can_buy_again=not live),
            payments=tuple(
                PaymentRow(p, p.kind == "purchase" and self_refundable(context.settings, session, user_id, p.id))
                for p in history
            ),
            plans=plan_options(catalog),
            has_billing_account=customer is not None,
            card=card,
            card_unknown=card_unknown,
            usage=tuple(usage),
        )


def running_pass(session: Session, catalog: Catalog, user_id: str, now: int, *, can_buy_again: bool) -> PassView | None:
    """The user's pass that runs at `now` (with any bought to follow it), if one does."""
    paid = sorted(orders.paid_for_user(session, user_id), key=lambda o: (o.access_ends_at or 0, o.id))
    for order in reversed(paid):
        product = catalog.product(order.product)
        until = runs_until(
            ((o.access_starts_at, o.access_ends_at) for o in paid if o.grants_plan == order.grants_plan), now
        )
        if product is None or until is None:
            continue
        plan = catalog.plan(product.grants_plan)
        latest = max(paid, key=lambda o: (o.paid_at or 0, o.id))
        return PassView(
            product=product,
            plan_name=plan.name if plan else product.grants_plan,
            until=until,
            extends_to=add_calendar_months(until, product.duration_months),
            receipt_url=latest.receipt_url,
            features=plan.features if plan else (),
            can_buy_again=can_buy_again,
        )
    return None


def _card(
    context: PaywireContext, customer: Customer | None, rows: Sequence[Subscription]
) -> tuple[CardView | None, bool]:
    """The card on file, from Stripe (a live subscription's own default counts too); whether
    Stripe failed to say."""
    if customer is None:
        return None, False
    preferred = [
        id_of((r.stripe_object or {}).get("default_payment_method"))
        for r in rows
        if r.status in subscriptions.LIVE_STATUSES
    ]
    try:
        found = card_on_file(context.gateway, customer.stripe_customer_id, preferred)
    except StripeError as exc:
        log.info("card on file of %s not read: %r", customer.stripe_customer_id, exc)
        return None, True
    return (CardView(found) if found else None), False


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
    grants = lifecycle_access(facts, now, context.settings.grace_seconds).access
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
        access=grants,
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
