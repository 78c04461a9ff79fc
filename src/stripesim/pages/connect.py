"""Connect's hosted pages: onboarding (where an account link leads) and the Express Dashboard
(where a login link leads).

Onboarding asks what Stripe asks an individual in the United States, filled in with Stripe's
test data (a test SSN, test bank account 000123456789 at routing 110000000; 000111111116 makes
payouts fail), and in test mode lets the person choose how verification turns out: verified, a
document still needed, or rejected. Submitting does what `POST /_sim/accounts/{id}/onboard`
does, then returns to the link's `return_url`. A link is single-use: opened once (or expired),
it sends the visitor to its `refresh_url`, where the platform makes a fresh one.
"""

from __future__ import annotations

import re

from stripesim.billing import connect_accounts as accounts
from stripesim.billing import connect_funds as funds
from stripesim.pages._html import bad, banner, brand, date, document, e, field_error, message_page, money, not_found
from stripesim.routes import Ctx, Response, page
from stripesim.state import Record, State

SESSION_S = 3600  # how long an opened link's form can be submitted
OUTCOMES = {
    "enabled": "Verified: the account can take payments and get paid",
    "requirements_due": "A photo ID is still needed (requirements past due)",
    "disabled": "Rejected by Stripe (account disabled)",
}
TEST_DATA = {
    "first_name": "Jenny",
    "last_name": "Rosen",
    "dob": "1901-01-01",
    "ssn_last_4": "0000",
    "routing_number": "110000000",
    "account_number": accounts.DEFAULT_BANK_ACCOUNT,
}
NOTHING = '<p class="muted">{}</p>'
DOB = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _link(state: State, link_id: str) -> Record | None:
    return state.find(link_id, "v2.core.account_link")


def _form(state: State, link: Record, values: dict[str, str], errors: dict[str, str]) -> str:
    account = accounts.connected(state, link["account"])
    name = account["_v2"].get("display_name") or account.get("email") or account["id"]
    updating = link["use_case"]["type"] == "account_update"
    title = "Update your account" if updating else "Set up payments and payouts"

    def text(field: str, label: str, autocomplete: str = "off") -> str:
        return (
            f'<label for="{field}">{e(label)}</label><input type="text" id="{field}" name="{field}" '
            f'autocomplete="{autocomplete}" class="{bad(errors, field).strip()}" value="{e(values.get(field, ""))}">'
            f"{field_error(errors, field)}"
        )

    options = "".join(
        f'<option value="{e(key)}"{" selected" if values.get("outcome", "enabled") == key else ""}>{e(label)}</option>'
        for key, label in OUTCOMES.items()
    )
    body = (
        f'{brand(None)}<div class="card"><h1>{e(title)}</h1>'
        f'<p class="muted">For <b id="account-name">{e(name)}</b>, with Stripe. Test mode: Stripe\'s test data is '
        "filled in; nothing is verified for real.</p>"
        f"{banner('Check the fields marked below.' if errors else None)}"
        f'<form method="post" action="/connect/onboarding/{e(link["id"])}" novalidate>'
        "<h2>Personal details</h2>"
        f"{text('first_name', 'First name', 'given-name')}{text('last_name', 'Last name', 'family-name')}"
        f"{text('dob', 'Date of birth (YYYY-MM-DD)', 'bday')}{text('ssn_last_4', 'Last 4 digits of SSN')}"
        "<h2>Bank account for payouts</h2>"
        f"{text('routing_number', 'Routing number')}{text('account_number', 'Account number')}"
        '<p class="muted small">000123456789: payouts succeed. 000111111116: payouts fail.</p>'
        f'<label for="outcome">Verification result (test mode)</label><select id="outcome" name="outcome">{options}'
        "</select>"
        '<label><input type="checkbox" name="tos" value="accepted" id="tos"'
        f"{' checked' if values.get('tos') else ''}> I agree to the Stripe Connected Account "
        "Agreement</label>"
        f"{field_error(errors, 'tos')}"
        '<button type="submit" class="wide" id="submit-onboarding">Agree and submit</button></form></div>'
    )
    return document(title, body, narrow=True)


@page("GET", "/connect/onboarding/{link_id}")
def onboarding_page(ctx: Ctx, link_id: str) -> Response:
    link = _link(ctx.state, link_id)
    if link is None:
        return not_found("onboarding link")
    now = ctx.now()
    if link["_opened"] or now > link["_expires_at"]:
        return Response.redirect(accounts.link_urls(link)["refresh_url"])
    link["_opened"] = True
    link["_session_until"] = now + SESSION_S
    return Response.html(_form(ctx.state, link, dict(TEST_DATA), {}))


def _check(values: dict[str, str]) -> dict[str, str]:
    errors = {}
    for field, label in (("first_name", "first name"), ("last_name", "last name")):
        if not values.get(field):
            errors[field] = f"Enter your {label}."
    if not DOB.match(values.get("dob", "")):
        errors["dob"] = "Enter your date of birth as YYYY-MM-DD."
    if not re.fullmatch(r"\d{4}", values.get("ssn_last_4", "")):
        errors["ssn_last_4"] = "Enter 4 digits."
    if values.get("routing_number") != TEST_DATA["routing_number"]:
        errors["routing_number"] = "Use the test routing number 110000000."
    if values.get("account_number") not in accounts.BANK_ACCOUNTS:
        errors["account_number"] = "Use a test account number: " + ", ".join(accounts.BANK_ACCOUNTS) + "."
    if values.get("outcome") not in OUTCOMES:
        errors["outcome"] = "Choose a result."
    if values.get("tos") != "accepted":
        errors["tos"] = "Accept the agreement to continue."
    return errors


@page("POST", "/connect/onboarding/{link_id}")
def submit_onboarding(ctx: Ctx, link_id: str) -> Response:
    link = _link(ctx.state, link_id)
    if link is None:
        return not_found("onboarding link")
    if not link["_opened"] or ctx.now() > link.get("_session_until", 0):
        return Response.redirect(accounts.link_urls(link)["refresh_url"])
    values = {k: str(v).strip() for k, v in ctx.params.data.items() if isinstance(v, str)}
    errors = _check(values)
    if errors:
        return Response.html(_form(ctx.state, link, values, errors), status=400)
    account = accounts.connected(ctx.state, link["account"])
    accounts.onboard(ctx.state, account, values["outcome"], bank_account=values["account_number"])
    link["_session_until"] = 0
    return_url = accounts.link_urls(link).get("return_url")
    if return_url:
        return Response.redirect(return_url)
    return message_page("All set", "Your details were sent to Stripe. You can close this page.")


@page("GET", "/connect/express/{account_id}/{token}")
def express_dashboard(ctx: Ctx, account_id: str, token: str) -> Response:
    """The Express Dashboard a login link opens: balance, payouts and payments."""
    state = ctx.state
    account = state.find(account_id, "account")
    if not accounts.is_connected(account) or token not in (account or {}).get("_login_tokens", []):
        return not_found("dashboard")
    assert account is not None
    balance = funds.balance_of(state, account["id"])
    payouts = "".join(
        f'<div class="rowline"><span>{e(date(p["arrival_date"]))}</span><span>{e(money(p["amount"], p["currency"]))}'
        f' <span class="badge">{e(p["status"])}</span></span></div>'
        for p in state.where("payout", _account=account["id"])
    )
    payments = "".join(
        f'<div class="rowline"><span>{e(t["type"].replace("_", " "))}</span><span>{e(money(t["net"], t["currency"]))}'
        "</span></div>"
        for t in state.where("balance_transaction", _account=account["id"])
    )
    body = (
        f'{brand(account["_v2"].get("display_name"))}<div class="card"><h1>Express Dashboard</h1>'
        f'<p class="muted">{e(account["_v2"].get("contact_email") or account["id"])}</p>'
        f'<h2>Balance</h2><p>Available <b id="available">{e(money(balance["available"][0]["amount"], "usd"))}</b> · '
        f'pending <b id="pending">{e(money(balance["pending"][0]["amount"], "usd"))}</b></p>'
        f"<h2>Payouts</h2>{payouts or NOTHING.format('No payouts yet.')}"
        f"<h2>Activity</h2>{payments or NOTHING.format('No activity yet.')}</div>"
    )
    return Response.html(document("Express Dashboard", body, narrow=True))
