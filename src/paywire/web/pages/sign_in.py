"""`GET /sign-in`, `POST /sign-in`, `POST /sign-out`: the demo sign-in (see `session`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response
from starlette.concurrency import run_in_threadpool

from paywire.web.access import note_access
from paywire.web.context import Context
from paywire.web.pages import csrf
from paywire.web.pages.errors import PageError
from paywire.web.pages.render import is_local_path, redirect_with_flash, render
from paywire.web.pages.routing import page_router
from paywire.web.pages.session import (
    PageUser,
    demo_sign_in_enabled,
    end_session,
    normalized_email,
    start_session,
    user_id_for_email,
)

router = page_router()
SIGN_IN_OFF = PageError(
    404,
    "Sign-in is not available here",
    "The demo sign-in is off on this server. Your app signs you in and talks to paywire's API.",
)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site, else the pricing page."""
    return target if target and is_local_path(target) else "/pricing"


@router.get("/sign-in")
def sign_in_page(request: Request, context: Context, next: Annotated[str | None, Query()] = None) -> Response:
    if not demo_sign_in_enabled(context):
        raise SIGN_IN_OFF
    return render(request, "sign_in.html", active="sign-in", next=safe_next(next), email="", error=None)


@router.post("/sign-in")
async def sign_in(request: Request, context: Context) -> Response:
    if not demo_sign_in_enabled(context):
        raise SIGN_IN_OFF
    form = await csrf.checked_form(request)
    target = safe_next(form.get("next"))
    email = normalized_email(form.get("email", ""))
    if email is None:
        error = "Enter an email address, like ann@example.com."
        return render(
            request, "sign_in.html", status=400, active="sign-in", next=target, email=form.get("email", ""), error=error
        )
    response = redirect_with_flash(request, target, f"Signed in as {email}.", kind="success")
    start_session(request, response, PageUser(user_id_for_email(email), email))
    await run_in_threadpool(note_access, context, request, user_id_for_email(email), "sign_in")
    csrf.rotate(request)
    csrf.remember(request, response)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await csrf.checked_form(request)
    response = redirect_with_flash(request, "/pricing", "Signed out.")
    end_session(request, response)
    csrf.rotate(request)
    csrf.remember(request, response)
    return response
