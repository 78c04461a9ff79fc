"""The pages a subscriber sees: pricing, sign-in, checkout return, account. Server-rendered
(Jinja2), a little JavaScript where it helps, working without it; no build step.

Served by `paywire.web.app.router` in dev mode, elsewhere only with PAYWIRE_PAGES=true; the
demo sign-in has its own switch (see `session`). The pieces every page uses:
- `session`: `PageUser`, the `OptionalPageUser` / `SignedInPageUser` dependencies;
- `csrf`: `checked_form(request)` for every POST form, `csrf_token` in every template;
- `render`: `render(request, "x.html", **values)`, `redirect_with_flash(...)`, the filters;
- `routing`: `page_router()`, an APIRouter whose routes render a raised `PageError` as a page.
"""

from __future__ import annotations

from fastapi import APIRouter

from paywire.config import Settings


def build_pages_router(settings: Settings | None = None) -> APIRouter:
    """All the pages' routes. `settings` places the checkout return and cancel pages at
    PAYWIRE_CHECKOUT_SUCCESS_PATH / PAYWIRE_CHECKOUT_CANCEL_PATH (their defaults without)."""
    from paywire.web.pages import account, assets, pricing, sign_in
    from paywire.web.pages.checkout_return import build_checkout_return_router

    combined = APIRouter(include_in_schema=False)
    combined.include_router(assets.router)
    combined.include_router(sign_in.router)
    combined.include_router(pricing.router)
    combined.include_router(build_checkout_return_router(settings))
    combined.include_router(account.router)
    return combined
