"""`GET /` and `GET /pricing`: the catalog's plans and passes, the signed-in user's plan
marked; `POST /checkout`: the same server-side Checkout as `POST /api/checkout`, answered
with a 303 to Stripe's hosted page.

The monthly/yearly switch is two radio inputs and CSS, so it works without JavaScript;
`?interval=year` opens on yearly prices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

from paywire.billing.entitlements import Entitlement
from paywire.billing.errors import AlreadySubscribed, BillingError, BillingUnavailable, InvalidChoice
from paywire.catalog import Catalog
from paywire.stripe import StripeError
from paywire.web.api import load_entitlement, start_catalog_checkout
from paywire.web.auth import Principal
from paywire.web.context import Context, PaywireContext
from paywire.web.pages import csrf
from paywire.web.pages.render import redirect, redirect_with_flash, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import OptionalPageUser, PageUser

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
class Pricing:
    currency: str
    plans: list[PlanOffer]
    passes: list[PassOffer]
    best_saving_percent: int | None
    entitlement: Entitlement | None

    @property
    def subscribed(self) -> bool:
        """A subscription grants access now: plans change on the account page, not here."""
        return self.entitlement is not None and self.entitlement.access and self.entitlement.source == "subscription"


def yearly_saving(prices: dict[str, int]) -> tuple[int | None, int | None]:
    """Twelve months at the monthly price minus the yearly price, and that in percent."""
    month, year = prices.get("month"), prices.get("year")
    if month is None or year is None or year >= 12 * month:
        return None, None
    saved = 12 * month - year
    return saved, round(100 * saved / (12 * month))


def pricing_of(catalog: Catalog, entitlement: Entitlement | None) -> Pricing:
    """What the pricing page shows. Pure."""
    current = entitlement.plan if entitlement is not None and entitlement.access else None
    plans = []
    for plan in sorted(catalog.plans.values(), key=lambda p: p.rank):
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
    return Pricing(catalog.currency, plans, passes, max(percents) if percents else None, entitlement)


def _entitlement(context: PaywireContext, user: PageUser | None) -> Entitlement | None:
    return load_entitlement(context, Principal(user.user_id, user.email)) if user else None


def pricing_page(
    request: Request,
    context: Context,
    user: OptionalPageUser,
    interval: Annotated[str | None, Query()] = None,
    checkout: Annotated[str | None, Query()] = None,
) -> Response:
    pricing = pricing_of(context.catalog, _entitlement(context, user))
    return render(
        request,
        "pricing.html",
        active="pricing",
        pricing=pricing,
        interval="year" if interval == "year" else "month",
        canceled=checkout == "canceled",
        plan_names={p.key: p.name for p in pricing.plans},
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
        return redirect_with_flash(request, "/sign-in?next=/pricing", "Sign in to subscribe.")
    retry_after = context.checkout_limiter.retry_after(user.user_id)
    if retry_after is not None:
        return redirect_with_flash(request, back, "Too many checkout attempts; try again in a minute.", kind="error")

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
