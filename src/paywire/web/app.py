"""The FastAPI app of `paywire serve`, and the router a host app mounts instead.

Service:  app = create_app(settings)
Library:  paywire.mount(app, settings)         # router + error format + context
          app.include_router(paywire.router(settings))   # router only
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from paywire.config import Settings, load_settings
from paywire.context import PaywireContext
from paywire.events.receiver import PATH, StripeWebhookEndpoint, webhook_route
from paywire.web.admin_api import build_admin_router
from paywire.web.api import build_api_router
from paywire.web.dev_mail import build_dev_mail_router
from paywire.web.docs import install_docs
from paywire.web.errors import install_error_handlers, install_internal_error_handler, install_not_found_handler
from paywire.web.health import build_health_router
from paywire.web.pages.site import build_pages_router, error_page
from paywire.web.payments_api import build_payments_router
from paywire.web.refunds_api import build_refunds_router
from paywire.web.seller_api import build_seller_router
from paywire.web.subscription_api import build_subscription_router
from paywire.web.update_payment import build_update_payment_router
from paywire.web.usage_api import PATH as USAGE_PATH
from paywire.web.usage_api import UsageEndpoint, build_usage_router, usage_route


def router(settings: Settings | None = None, *, context: PaywireContext | None = None) -> APIRouter:
    """All of paywire's routes, for `app.include_router(...)` in an existing app. The
    router's lifespan hands the context to every request (`paywire.web.context`) and closes
    it at shutdown (`PaywireContext.close`)."""
    settings = settings or (context.settings if context else load_settings())
    context = context or PaywireContext.build(settings)
    built = context

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[dict[str, Any]]:
        yield {"paywire": built}
        # Requests have finished: the writers store what they hold, the connections go back.
        built.close()

    combined = APIRouter(lifespan=lifespan)
    combined.include_router(build_api_router())
    combined.include_router(build_subscription_router())
    combined.include_router(build_payments_router())
    combined.include_router(build_health_router())
    combined.include_router(build_admin_router())
    combined.include_router(build_update_payment_router())
    combined.include_router(build_usage_router())
    combined.include_router(build_seller_router())
    combined.include_router(build_refunds_router())
    combined.routes.append(webhook_route(context.receiver))
    combined.routes.append(usage_route(context))
    if settings.dev_mode:
        combined.include_router(build_dev_mail_router())
    if settings.pages_enabled:
        combined.include_router(build_pages_router(settings))
    return combined


def mount(app: FastAPI, settings: Settings | None = None, *, context: PaywireContext | None = None) -> PaywireContext:
    """Mount paywire in a host app: its routes, its error format, its context."""
    settings = settings or (context.settings if context else load_settings())
    context = context or PaywireContext.build(settings)
    app.state.paywire = context
    install_error_handlers(app)
    app.include_router(router(settings, context=context))
    return context


class PaywireApp(FastAPI):
    """The service's app. Stripe's `POST /webhooks/stripe`, the one path called for every
    event, goes straight to its ASGI endpoint: FastAPI's middleware stack and router
    matching cost more per webhook than verifying and storing it. The endpoint answers its
    own errors (bare 500), so nothing is lost by skipping them; middleware added to this app
    does not see webhooks. Everything else is ordinary FastAPI."""

    webhook_path = ""
    webhook_lane: ASGIApp | None = None
    # `POST /api/usage` takes the same way round (paywire.web.usage_api).
    usage_lane: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            if self.webhook_lane is not None and scope["path"] == self.webhook_path:
                await self.webhook_lane(scope, receive, send)
                return
            if self.usage_lane is not None and scope["path"] == USAGE_PATH:
                await self.usage_lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, context: PaywireContext | None = None) -> FastAPI:
    """paywire as a standalone service."""
    settings = settings or (context.settings if context else load_settings())
    context = context or PaywireContext.build(settings)
    app = PaywireApp(
        title="paywire",
        version="0.1.0",
        # The API's schema and docs are for development: outside dev mode they are not served.
        docs_url=None,
        openapi_url="/openapi.json" if settings.dev_mode else None,
        redoc_url=None,
    )
    if settings.dev_mode:
        install_docs(app, "/openapi.json")
    mount(app, settings, context=context)
    install_not_found_handler(app, error_page if settings.pages_enabled else None)
    install_internal_error_handler(app)
    app.webhook_path, app.webhook_lane = PATH, StripeWebhookEndpoint(context.receiver)
    app.usage_lane = UsageEndpoint(context)
    return app
