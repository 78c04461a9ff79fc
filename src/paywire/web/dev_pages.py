"""The dev pages of `paywire dev`: a pricing page with a fake sign-in. Dev mode only.

The sign-in signs a token for whatever user id is typed, with the public dev secret (never
with a configured PAYWIRE_AUTH_SECRET); this router is not mounted outside dev mode and
refuses to work if it somehow is.
"""

from __future__ import annotations

import json
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, select_autoescape

from paywire.config import DEV_AUTH_SECRET
from paywire.web.api import BillingRoute, read_json_object
from paywire.web.auth import issue_token, valid_user_id
from paywire.web.context import Context, PaywireContext
from paywire.web.errors import ApiError

PAGES = ("/", "/pricing", "/billing", "/billing/success")
_templates = Environment(autoescape=select_autoescape(["html"]))


def _render(context: PaywireContext) -> str:
    text = resources.files("paywire.web").joinpath("templates/dev.html").read_text("utf-8")
    catalog = context.catalog
    plans = [
        {
            "key": plan.key,
            "name": plan.name,
            "description": plan.description or "",
            "prices": dict(plan.prices),
            "per_seat": plan.per_seat,
            "max_quantity": plan.max_quantity,
            "features": list(plan.features),
        }
        for plan in sorted(catalog.plans.values(), key=lambda p: p.rank)
    ]
    products = [
        {
            "key": p.key,
            "name": p.name,
            "description": p.description or "",
            "price": p.price,
            "grants_plan": p.grants_plan,
            "duration_months": p.duration_months,
        }
        for p in catalog.products.values()
    ]
    return _templates.from_string(text).render(
        catalog_json=json.dumps({"currency": catalog.currency, "plans": plans, "products": products}),
        stripe_api_base=context.settings.stripe_api_base or "",
    )


def build_dev_router() -> APIRouter:
    router = APIRouter(tags=["dev"], include_in_schema=False, route_class=BillingRoute)

    def page(context: Context) -> HTMLResponse:
        _dev_only(context)
        return HTMLResponse(_render(context))

    for path in PAGES:
        router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)

    @router.post("/dev/sign-in")
    async def sign_in(request: Request, context: Context) -> dict[str, str]:
        _dev_secret_only(context)
        data = await read_json_object(request)
        user_id = str(data.get("user_id") or "").strip()
        email = str(data.get("email") or "").strip() or None
        if not valid_user_id(user_id) or len(user_id) > 64:
            raise ApiError(400, "Type a user id (at most 64 characters).", field="user_id")
        token = issue_token(context.auth_secret, user_id, email, ttl=12 * 3600)
        return {"token": token, "user_id": user_id}

    return router


def _dev_only(context: PaywireContext) -> None:
    if not context.settings.dev_mode:
        raise ApiError(404, "Not found.")


def _dev_secret_only(context: PaywireContext) -> None:
    """The fake sign-in signs only with the public dev secret: with a real PAYWIRE_AUTH_SECRET
    (dev mode on a staging host, a product's own key) it would mint tokens anyone could use,
    for any user id, admins included, and for the product itself if it shares the key."""
    _dev_only(context)
    if context.auth_secret != DEV_AUTH_SECRET:
        raise ApiError(404, "Not found: the dev sign-in works only without PAYWIRE_AUTH_SECRET.")
