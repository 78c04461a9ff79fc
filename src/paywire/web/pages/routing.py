"""The route class and router factory of the pages.

`PageRoute` answers with paywire's security headers plus the pages' own (a Content Security
Policy allowing only this site's scripts and styles, no framing), renders a `PageError`
raised by a handler or a dependency (`checked_form`) as the `error.html` page, and answers a
`SignInRequired` (the `SignedInPageUser` dependency) with its redirect itself, whatever the
app's own handlers do with HTTP errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from paywire.web.api import BillingRoute
from paywire.web.errors import SECURITY_HEADERS
from paywire.web.pages.errors import PageError
from paywire.web.pages.render import render
from paywire.web.pages.session import SignInRequired

log = logging.getLogger("paywire.web")

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class PageRoute(BillingRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_page(request: Request) -> Response:
            try:
                response = await handle(request)
            except PageError as exc:
                log.info("page %s %s refused: %s %s", request.method, request.url.path, exc.status_code, exc.title)
                response = render(request, "error.html", status=exc.status_code, title=exc.title, message=exc.message)
            except SignInRequired as exc:
                response = RedirectResponse(exc.location, status_code=exc.status_code)
            for name, value in {**SECURITY_HEADERS, **PAGE_HEADERS}.items():
                response.headers.setdefault(name, value)
            return response

        return handle_page


def page_router() -> APIRouter:
    """A router for pages: `PageRoute` routes, kept out of the OpenAPI schema."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)
