"""The FastAPI app of `paywire serve`, and the router a host app mounts instead.

Service:  app = create_app(settings)
Library:  paywire.mount(app, settings)         # router + error format + context
          app.include_router(paywire.router(settings))   # router only
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from paywire.config import Settings, load_settings
from paywire.web import context as web_context
from paywire.web.api import build_api_router
from paywire.web.context import PaywireContext
from paywire.web.errors import install_error_handlers, install_internal_error_handler
from paywire.web.health import build_health_router
from paywire.web.pages import build_pages_router
from paywire.web.subscription_api import build_subscription_router


def webhook_receiver_router() -> APIRouter:
    """The events pipeline's `POST /webhooks/stripe` (imported here, not at the top:
    the receiver itself depends on `paywire.web.context`)."""
    from paywire.events.receiver import router as receiver

    return receiver


def router(settings: Settings | None = None, *, context: PaywireContext | None = None) -> APIRouter:
    """All of paywire's routes, for `app.include_router(...)` in an existing app. The
    context becomes the default one, found by paywire's dependencies in any app."""
    settings = settings or (context.settings if context else load_settings())
    context = context or PaywireContext.build(settings)
    web_context.install(context)
    combined = APIRouter()
    combined.include_router(build_api_router())
    combined.include_router(build_subscription_router())
    combined.include_router(build_health_router())
    combined.include_router(webhook_receiver_router())
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.webhook_lane is not None
            and scope["type"] == "http"
            and scope["path"] == self.webhook_path
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            await self.webhook_lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, context: PaywireContext | None = None) -> FastAPI:
    """paywire as a standalone service."""
    from paywire.events.receiver import PATH, StripeWebhookEndpoint, close_inbox_writer

    settings = settings or (context.settings if context else load_settings())
    context = context or PaywireContext.build(settings)
    engine = context.engine

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # Requests have finished: the webhook writer has nothing left to store.
        close_inbox_writer(engine)

    app = PaywireApp(
        title="paywire",
        version="0.1.0",
        # The API's schema and docs are for development: outside dev mode they are not served.
        docs_url="/docs" if settings.dev_mode else None,
        openapi_url="/openapi.json" if settings.dev_mode else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    mount(app, settings, context=context)
    install_internal_error_handler(app)
    app.webhook_path, app.webhook_lane = PATH, StripeWebhookEndpoint(context)
    return app
