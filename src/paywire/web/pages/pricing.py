"""`GET /` and `GET /pricing`: the catalog's plans and passes, the signed-in user's plan
marked with its state (a paused or overdue subscription too); `POST /checkout`: the same
server-side Checkout as `POST /api/checkout`, answered with a 303 to Stripe's hosted page.

Nothing is offered that would be refused: with a subscription in Stripe (whatever its state)
there is no Subscribe and no Buy, only the way to the account page. A pass holder is told that
buying again extends their access, and to when.

The monthly/yearly switch is two radio inputs and CSS, so it works without JavaScript;
`?interval=year` opens on yearly prices. Subscribe while signed out goes through sign-in and
back to `?plan=…&interval=…&quantity=…` (or `?product=…`), where the choice waits with a
Continue button: a form, so no checkout ever starts from a link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

from paywire.billing.checkout import Choice, PurchaseChoice, SubscriptionChoice, choose
from paywire.billing.clock import customer_now
from paywire.billing.entitlements import Entitlement, subscription_facts
from paywire.billing.errors import AlreadySubscribed, BillingError, BillingUnavailable, InvalidChoice
from paywire.billing.lifecycle import LifecycleState, Operation, allowed, state_of
from paywire.billing.passes import add_calendar_months, runs_until
from paywire.catalog import Catalog
from paywire.context import PaywireContext
from paywire.db.repositories import customers, orders, subscriptions
from paywire.stripe import StripeError
from paywire.web.access import note_access
from paywire.web.api import load_entitlement, start_catalog_checkout
from paywire.web.auth import Principal
from paywire.web.context import Context
from paywire.web.pages import csrf
from paywire.web.pages.account_view import STATE_WORDS
from paywire.web.pages.render import redirect, redirect_with_flash, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import OptionalPageUser

log = logging.getLogger("paywire.web")
router = page_router()
INTERVALS = ("month", "year")


@dataclass(frozen=True)
class PlanOffer:
    key: str
    name: str
    description: str
    features: tuple[str, ...]
    prices: dict[str, int]
    per_seat: bool
    max_quantity: int
    yearly_saving: int | None  # what a year costs less when paid yearly, per seat
    yearly_saving_percent: int | None
    current: bool


@dataclass(frozen=True)
class PassOffer:
    key: str
    name: str
    description: str
    price: int
    grants_plan: str
    duration_months: int


@dataclass(frozen=True)
class Standing:
    """Where the signed-in user stands: their subscription as the mirror holds it (granting
    access or not) and a pass that runs now."""

    plan: str | None = None  # the subscription's plan, if it is still live in Stripe
    state: LifecycleState | None = None
    pass_plan: str | None = None
    pass_product: str | None = None
    pass_until: int | None = None
    pass_extends_to: int | None = None  # the end of access if the pass were bought again now

    @property
    def live(self) -> bool:
        """A subscription exists in Stripe: a checkout would be refused (`AlreadySubscribed`)."""
        return self.state is not None

    @property
    def state_words(self) -> str:
        return STATE_WORDS[self.state] if self.state is not None else ""

    @property
    def can_change_plan(self) -> bool:
        return self.state is not None and allowed(self.state, Operation.CHANGE_PLAN)


NOBODY = Standing()


@dataclass(frozen=True)
class Pricing:
    currency: str
    plans: list[PlanOffer]
    passes: list[PassOffer]
    best_saving_percent: int | None
    entitlement: Entitlement | None
    standing: Standing = NOBODY

    @property
    def subscribed(self) -> bool:
        """A subscription exists (whatever its state): plans change on the account page, not here."""
        return self.standing.live


def yearly_saving(prices: dict[str, int]) -> tuple[int | None, int | None]:
    """Twelve months at the monthly price minus the yearly price, and that in percent."""
    month, year = prices.get("month"), prices.get("year")
    if month is None or year is None or year >= 12 * month:
        return None, None
    saved = 12 * month - year
    return saved, round(100 * saved / (12 * month))


def pricing_of(catalog: Catalog, entitlement: Entitlement | None, standing: Standing = NOBODY) -> Pricing:
    """What the pricing page shows. Pure."""
    current = standing.plan or (entitlement.plan if entitlement is not None and entitlement.access else None)
    plans = []
    for plan in sorted(catalog.plans.values(), key=lambda p: p.rank):
        if plan.marketplace:
            continue  # a seller's plan: bought from a seller, on the marketplace page
        saved, percent = yearly_saving({str(interval): amount for interval, amount in plan.prices.items()})
        plans.append(
            PlanOffer(
                key=plan.key,
                name=plan.name,
                description=plan.description or "",
                features=tuple(plan.features),
                prices={i: plan.prices[i] for i in INTERVALS if i in plan.prices},
                per_seat=plan.per_seat,
                max_quantity=plan.max_quantity,
                yearly_saving=saved,
                yearly_saving_percent=percent,
                current=plan.key == current,
            )
        )
    passes = [
        PassOffer(p.key, p.name, p.description or "", p.price, p.grants_plan, p.duration_months)
        for p in catalog.products.values()
    ]
    percents = [p.yearly_saving_percent for p in plans if p.yearly_saving_percent]
    return Pricing(catalog.currency, plans, passes, max(percents) if percents else None, entitlement, standing)


def standing_of(context: PaywireContext, user_id: str) -> Standing:
    """The user's subscription and running pass, from the mirror. Blocking (the database)."""
    with context.sessions() as session:
        rows = subscriptions.for_user(session, user_id)
        live = [r for r in rows if r.status in subscriptions.LIVE_STATUSES]
        state = state_of(subscription_facts(live[:1])[0]) if live else None
        now = customer_now(session, customers.find_by_user(session, user_id))
        paid = orders.paid_for_user(session, user_id)
    for order in sorted(paid, key=lambda o: (o.access_ends_at or 0, o.id), reverse=True):
        product = context.catalog.product(order.product)
        same_plan = ((o.access_starts_at, o.access_ends_at) for o in paid if o.grants_plan == order.grants_plan)
        until = runs_until(same_plan, now)
        if product is not None and until is not None:
            extended = add_calendar_months(until, product.duration_months)
            return Standing(live[0].plan if live else None, state, product.grants_plan, product.key, until, extended)
    return Standing(live[0].plan if live else None, state)


def _wanted(catalog: Catalog, query: dict[str, str]) -> Choice | None:
    """The choice a signed-out Subscribe or Buy brought back through sign-in, if valid."""
    if not (query.get("plan") or query.get("product")):
        return None
    try:
        quantity = _quantity(query.get("quantity"))
        return choose(
            catalog,
            plan=query.get("plan"),
            interval=query.get("interval") if query.get("plan") else None,
            quantity=quantity,
            product=query.get("product"),
        )
    except BillingError:
        return None


def pricing_page(
    request: Request,
    context: Context,
    user: OptionalPageUser,
    interval: Annotated[str | None, Query()] = None,
    checkout: Annotated[str | None, Query()] = None,
) -> Response:
    entitlement, standing = None, NOBODY
    if user is not None:
        entitlement = load_entitlement(context, Principal(user.user_id, user.email))
        standing = standing_of(context, user.user_id)
    pricing = pricing_of(context.catalog, entitlement, standing)
    chosen = _wanted(context.catalog, dict(request.query_params)) if user is not None and not standing.live else None
    return render(
        request,
        "pricing.html",
        active="pricing",
        pricing=pricing,
        interval="year" if interval == "year" else "month",
        canceled=checkout == "canceled",
        plan_names={p.key: p.name for p in pricing.plans},
        chosen=chosen,
        chosen_plan=chosen if isinstance(chosen, SubscriptionChoice) else None,
        chosen_pass=chosen if isinstance(chosen, PurchaseChoice) else None,
    )


router.add_api_route("/", pricing_page, methods=["GET"])
router.add_api_route("/pricing", pricing_page, methods=["GET"])


def _quantity(raw: str | None) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidChoice("Seats must be a whole number.", field="quantity") from None


@router.post("/checkout")
async def checkout(request: Request, context: Context, user: OptionalPageUser) -> Response:
    form = await csrf.checked_form(request)
    back = "/pricing" + ("?interval=year" if form.get("interval") == "year" else "")
    if user is None:
        # Back on the pricing page after signing in, the choice waits there (see `_wanted`).
        kept = {k: form[k] for k in ("plan", "interval", "quantity", "product") if form.get(k)}
        comeback = "/pricing" + (f"?{urlencode(kept)}" if kept else "")
        return redirect_with_flash(request, "/sign-in?next=" + quote(comeback, safe="/"), "Sign in to subscribe.")

    def run() -> str:
        started = start_catalog_checkout(
            context,
            user_id=user.user_id,
            email=user.email,
            plan=form.get("plan") or None,
            interval=form.get("interval") or None,
            quantity=_quantity(form.get("quantity")),
            product=form.get("product") or None,
        )
        note_access(context, request, user.user_id, "checkout", started.session_id)
        return started.url

    try:
        url = await run_in_threadpool(run)
    except AlreadySubscribed:
        return redirect_with_flash(
            request,
            back,
            "You already have a subscription: change your plan on your account page instead of subscribing again.",
            link="/account",
            link_text="Go to your account",
        )
    except (BillingUnavailable, StripeError) as exc:
        log.warning("page checkout for %s failed: %r", user.user_id, exc)
        return redirect_with_flash(request, back, "Billing is temporarily unavailable; please try again.", kind="error")
    except BillingError as exc:
        return redirect_with_flash(request, back, exc.message, kind="error")
    return redirect(url)
