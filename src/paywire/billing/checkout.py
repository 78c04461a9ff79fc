"""Starting a Checkout: what the user may buy, at the catalog's price, once.

The request names a plan (with interval and quantity) or a one-time product; the price
comes from the catalog via its Stripe lookup key, never from the client. A user with a
live subscription is sent to plan change or the portal instead of a second subscription.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from paywire.billing.checkout_sessions import (
    Destination,
    Terms,
    purchase_checkout_params,
    subscription_checkout_params,
)
from paywire.billing.customers import get_or_create_customer
from paywire.billing.errors import (
    AlreadySubscribed,
    BillingUnavailable,
    IntervalNotOffered,
    InvalidChoice,
    InvalidQuantity,
    PlanNotFound,
    ProductNotFound,
)
from paywire.billing.prices import PriceBook
from paywire.catalog import Catalog, OneTimeProduct, Plan
from paywire.config import Settings
from paywire.db.models import Customer, Order
from paywire.db.repositories import customers, orders, subscriptions
from paywire.metrics import CHECKOUT_SESSIONS
from paywire.stripe import Kind, StripeGateway, StripeNotFound, StripeUnavailable
from paywire.stripe import idempotency as keys

# A replayed session that is no longer open is retried under a new key, this many times.
MAX_CHECKOUT_ATTEMPTS = 4
ALREADY_SUBSCRIBED = (
    "You already have a subscription. Change your plan or manage billing in the portal "
    "(POST /api/billing-portal) instead of starting a new checkout."
)


@dataclass(frozen=True)
class SubscriptionChoice:
    plan: Plan
    interval: str
    quantity: int


@dataclass(frozen=True)
class PurchaseChoice:
    product: OneTimeProduct


Choice = SubscriptionChoice | PurchaseChoice


@dataclass(frozen=True)
class CheckoutStarted:
    url: str
    session_id: str


def choose(
    catalog: Catalog,
    *,
    plan: str | None = None,
    interval: str | None = None,
    quantity: int | None = None,
    product: str | None = None,
    from_seller: bool = False,
) -> Choice:
    """Validate a request against the catalog. Pure. `from_seller`: the request names a seller
    (a seller's plan is bought from a seller, any other plan never is)."""
    if plan and product:
        raise InvalidChoice("Name either a plan or a product, not both.", field="product")
    if product:
        if interval is not None or quantity not in (None, 1):
            field = "interval" if interval is not None else "quantity"
            raise InvalidChoice(f"A one-time product takes no {field}.", field=field)
        found = catalog.product(product)
        if found is None:
            raise ProductNotFound(f"No product {product!r} is for sale.")
        return PurchaseChoice(found)
    if not plan:
        raise PlanNotFound("Name a plan (with an interval) or a product.")
    found_plan = catalog.plan(plan)
    if found_plan is None:
        raise PlanNotFound(f"No plan {plan!r}; choose one of {', '.join(catalog.plans)}.")
    if found_plan.marketplace != from_seller:
        if found_plan.marketplace:
            raise InvalidChoice(f"The {found_plan.name} plan is sold by sellers: name the seller.", field="seller")
        raise InvalidChoice(f"The {found_plan.name} plan is not sold by sellers.", field="seller")
    if interval not in found_plan.prices:
        offered = " or ".join(found_plan.prices)
        raise IntervalNotOffered(f"The {found_plan.name} plan is billed per {offered}.")
    wanted = 1 if quantity is None else quantity
    if not found_plan.per_seat and wanted != 1:
        raise InvalidQuantity(f"The {found_plan.name} plan is not sold per seat.")
    if not 1 <= wanted <= found_plan.max_quantity:
        raise InvalidQuantity(f"Quantity must be between 1 and {found_plan.max_quantity}.")
    return SubscriptionChoice(found_plan, str(interval), wanted)


def trial_days_for(settings: Settings, session: Session, customer: Customer) -> int:
    """A trial only for a user who never had one."""
    if settings.trial_days <= 0 or customer.trial_used:
        return 0
    if subscriptions.had_trial(session, customer.user_id):
        return 0
    return settings.trial_days


def start_checkout(
    session: Session,
    gateway: StripeGateway,
    prices: PriceBook,
    settings: Settings,
    *,
    user_id: str,
    email: str | None,
    choice: Choice,
    now: float | None = None,
    destination: Destination | None = None,
    terms: Terms | None = None,
) -> CheckoutStarted:
    """Create (or, for a repeated request, find again) the user's Checkout Session.
    `destination`: a subscription to a seller's plan, paid to the seller. `terms`: what the
    payer is asked to accept (`Terms.of(catalog)`)."""
    _refuse_if_subscribed(session, gateway, user_id)
    customer = get_or_create_customer(session, gateway, user_id=user_id, email=email, own_clock=settings.test_clocks)
    in_stripe = _subscriptions_in_stripe(gateway, customer)
    if any(s.get("status") in subscriptions.LIVE_STATUSES for s in in_stripe):
        raise AlreadySubscribed(ALREADY_SUBSCRIBED)
    if any(s.get("trial_start") for s in in_stripe):
        # The mirror may not know a trial Stripe remembers (a lost row, a lagging webhook):
        # one trial per user ever, also after cancelling and subscribing again.
        customers.mark_trial_used(session, user_id)
        session.commit()
    bucket = keys.time_bucket(time.time() if now is None else now)
    success_url = settings.app_link(settings.checkout_success_path)
    cancel_url = settings.app_link(settings.checkout_cancel_path)
    try:
        if isinstance(choice, SubscriptionChoice):
            lookup_key = choice.plan.lookup_key(choice.interval)
            price_id = prices.price_id_for(lookup_key)
            # A hybrid plan's metered prices ride on the same subscription (no quantity).
            metered = [prices.price_id_for(key) for key in choice.plan.usage_lookup_keys(choice.interval)]
            trial_days = trial_days_for(settings, session, customer)
            dead: str | None = None
            for _ in range(MAX_CHECKOUT_ATTEMPTS):
                seller = [f"{destination.account}:{destination.fee_percent}"] if destination else []
                variant = ":".join([price_id, *metered, str(trial_days), *seller]) + (f":after:{dead}" if dead else "")
                params = subscription_checkout_params(
                    user_id=user_id,
                    customer_id=customer.stripe_customer_id,
                    price_id=price_id,
                    metered_price_ids=metered,
                    quantity=choice.quantity,
                    plan=choice.plan.key,
                    interval=choice.interval,
                    trial_days=trial_days,
                    automatic_tax=settings.automatic_tax,
                    tax_id_collection=settings.tax_id_collection,
                    success_url=success_url,
                    cancel_url=cancel_url,
                    destination=destination,
                    terms=terms,
                )
                created = gateway.create_checkout_session(
                    params,
                    idempotency_key=keys.checkout_subscription(
                        user_id, choice.plan.key, choice.interval, choice.quantity, bucket, variant=variant
                    ),
                )
                open_sessions = gateway.list_open_checkout_sessions(customer.stripe_customer_id)
                if any(s["id"] == created["id"] for s in open_sessions):
                    break
                # Stripe replayed (as it was when created) a session of this window that has
                # since expired, closed by a newer checkout: the same request, a session after it.
                dead = str(created["id"])
            else:
                raise BillingUnavailable("Billing is temporarily unavailable; try again.")
            expire_other_checkouts(gateway, open_sessions, created)
            CHECKOUT_SESSIONS.labels(mode="subscription").inc()
        else:
            params = purchase_checkout_params(
                user_id=user_id,
                customer_id=customer.stripe_customer_id,
                price_id=prices.price_id_for(choice.product.lookup_key),
                product=choice.product.key,
                automatic_tax=settings.automatic_tax,
                tax_id_collection=settings.tax_id_collection,
                success_url=success_url,
                cancel_url=cancel_url,
                description=choice.product.name,
                terms=terms,
            )
            return _start_purchase(session, gateway, customer, choice.product, params)
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
    return CheckoutStarted(url=created["url"], session_id=created["id"])


def _start_purchase(
    session: Session, gateway: StripeGateway, customer: Customer, product: OneTimeProduct, params: dict[str, Any]
) -> CheckoutStarted:
    """The Checkout of the user's next purchase of `product`. Its idempotency key names the
    purchase it follows (`keys.checkout_purchase`): a retried click reopens the session still
    open, a purchase after a paid or expired one is a new session. A finished session is never
    reopened: Stripe's state is asked whenever the mirror may lag it."""
    user_id = customer.user_id
    newest = orders.newest_for_product(session, user_id, product.key)
    after = "first"
    if newest is not None:
        current = _still_open(gateway, newest)
        if current is not None:
            return CheckoutStarted(url=current["url"], session_id=current["id"])
        after = newest.checkout_session_id
    price_id = params["line_items"][0]["price"]
    for _ in range(MAX_CHECKOUT_ATTEMPTS):
        created = gateway.create_checkout_session(
            params, idempotency_key=keys.checkout_purchase(user_id, product.key, after, variant=price_id)
        )
        # A replay answers as the session was when made: ask Stripe how it is now.
        current = _open_now(gateway, str(created["id"]))
        if current is not None:
            break
        after = str(created["id"])  # a purchase whose order the mirror lost, finished since
    else:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.")
    orders.open_pending_order(
        session,
        user_id=user_id,
        stripe_customer_id=customer.stripe_customer_id,
        checkout_session_id=current["id"],
        product=product.key,
        grants_plan=product.grants_plan,
    )
    CHECKOUT_SESSIONS.labels(mode="payment").inc()
    return CheckoutStarted(url=current["url"], session_id=current["id"])


def _still_open(gateway: StripeGateway, order: Order) -> dict[str, Any] | None:
    """The order's Checkout Session, if it can still be paid: only a pending order's can, and
    Stripe says whether it still is (the mirror may not have heard it was paid or expired)."""
    return _open_now(gateway, order.checkout_session_id) if order.status == "pending" else None


def _open_now(gateway: StripeGateway, checkout_session_id: str) -> dict[str, Any] | None:
    try:
        current = gateway.retrieve(Kind.CHECKOUT_SESSION, checkout_session_id)
    except StripeNotFound:
        return None
    return current if current.get("status") == "open" and current.get("url") else None


def expire_other_checkouts(gateway: StripeGateway, open_sessions: list[dict[str, Any]], kept: dict[str, Any]) -> None:
    """Close the customer's other open subscription checkouts: a stale tab paid after another
    checkout would be a second subscription, charged twice. (Two different checkouts asked
    for in the same instant may close each other; asking again gives a fresh one.)"""
    for other in open_sessions:
        if other.get("mode") == "subscription" and other["id"] != kept["id"]:
            gateway.expire_checkout_session(str(other["id"]), idempotency_key=keys.checkout_expire(str(other["id"])))


def _refuse_if_subscribed(session: Session, gateway: StripeGateway, user_id: str) -> None:
    if subscriptions.live_for_user(session, user_id):
        raise AlreadySubscribed(ALREADY_SUBSCRIBED)


def _subscriptions_in_stripe(gateway: StripeGateway, customer: Customer) -> list[dict[str, Any]]:
    """Every subscription Stripe holds for the customer: the mirror can lag a just-finished
    checkout; Stripe cannot."""
    if not customer.stripe_customer_id:
        return []
    try:
        return gateway.list_subscriptions_of_customer(customer.stripe_customer_id)
    except StripeUnavailable as exc:
        raise BillingUnavailable("Billing is temporarily unavailable; try again.") from exc
