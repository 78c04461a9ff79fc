"""The portal login page of a configuration with `login_page.enabled` (`login_page.url`).

Stripe emails the customer a sign-in link; stripesim, having no mail, signs them in at once
and says so on the page.
"""

from __future__ import annotations

from stripesim.billing.customers import EMAIL
from stripesim.billing.portal_sessions import start_session
from stripesim.pages._html import bad, banner, brand, document, e, field_error, merchant, not_found
from stripesim.routes import Ctx, Response, page
from stripesim.state import Record, State


def _config(state: State, token: str) -> Record | None:
    secret = token.removeprefix("test_")
    for config in state.all("billing_portal.configuration"):
        if config.get("_login_token") == secret and config["login_page"]["enabled"] and config["active"]:
            return config
    return None


def _form(state: State, token: str, email: str = "", error: str | None = None, note: str | None = None) -> str:
    errors = {"email": error} if error else {}
    body = (
        f'{brand(merchant(state).name)}<div class="card"><h1>Manage your billing</h1>'
        '<p class="muted">Enter the email address you use with us. In test mode stripesim signs you in '
        "directly instead of emailing you a link.</p>"
        f'{banner(note, "info")}<form method="post" action="/p/login/{e(token)}" novalidate>'
        f'<label for="email">Email</label><input type="email" id="email" name="email" '
        f'class="{bad(errors, "email").strip()}" value="{e(email)}">{field_error(errors, "email")}'
        '<button type="submit" class="wide" id="sign-in">Continue</button></form></div>'
    )
    return document("Sign in · Billing portal", body, narrow=True)


@page("GET", "/p/login/{token}")
def login_form(ctx: Ctx, token: str) -> Response:
    if _config(ctx.state, token) is None:
        return not_found("portal login page")
    return Response.html(_form(ctx.state, token))


@page("POST", "/p/login/{token}")
def login(ctx: Ctx, token: str) -> Response:
    config = _config(ctx.state, token)
    if config is None:
        return not_found("portal login page")
    email = str(ctx.params.data.get("email") or "").strip()
    if not EMAIL.match(email):
        return Response.html(_form(ctx.state, token, email, "Enter a valid email address."), status=400)
    folded = email.casefold()
    customer = next((c for c in ctx.state.all("customer") if (c.get("email") or "").casefold() == folded), None)
    if customer is None:
        return Response.html(_form(ctx.state, token, email, note="No customer uses this email address."), status=404)
    session = start_session(ctx.state, customer, config)
    return Response.redirect(f"/p/session/{session['id']}")
