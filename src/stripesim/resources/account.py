"""The account behind the API key: /v1/account (one simulated test-mode account)."""

from __future__ import annotations

from stripesim.errors import NotFound
from stripesim.present import includable, list_of
from stripesim.resources._common import new_record
from stripesim.routes import Ctx, api
from stripesim.state import Record, State

ACCOUNT_ID = "acct_1StripesimTestAcct0"


def the_account(state: State) -> Record:
    """Created on first use, so a reset world has it too."""
    found = state.find(ACCOUNT_ID, "account")
    if found is not None:
        return found
    record = new_record(
        state,
        "account",
        "acct",
        created=state.now(),
        business_type="company",
        charges_enabled=True,
        country="US",
        default_currency="usd",
        details_submitted=True,
        email="owner@stripesim.test",
        payouts_enabled=True,
        type="standard",
    )
    record["id"] = ACCOUNT_ID
    record["business_profile"]["name"] = "stripesim"
    record["settings"]["dashboard"] = {"display_name": "stripesim", "timezone": "Etc/UTC"}
    state.insert(record)
    return record


@api("GET", "/v1/account")
def retrieve_account(ctx: Ctx) -> Record:
    return the_account(ctx.state)


@api("GET", "/v1/accounts/{account}")
def retrieve_account_by_id(ctx: Ctx, account: str) -> Record:
    record = the_account(ctx.state)
    if account != record["id"]:
        raise NotFound(f"No such account: '{account}'", param="account")
    return record


@includable("customer", "sources")
def customer_sources(state: State, customer: Record) -> Record:
    # Cards are PaymentMethods here; the legacy sources list is always empty.
    return list_of([], f"/v1/customers/{customer['id']}/sources")


@includable("customer", "tax_ids")
def customer_tax_ids(state: State, customer: Record) -> Record:
    return list_of([], f"/v1/customers/{customer['id']}/tax_ids")


@includable("customer", "subscriptions")
def customer_subscriptions(state: State, customer: Record) -> Record:
    subs = [s for s in state.where("subscription", customer=customer["id"]) if s["status"] != "canceled"]
    return list_of(subs, f"/v1/customers/{customer['id']}/subscriptions")
