"""The account behind the API key: /v1/account (one simulated test-mode account), and
/v1/accounts/{id} for it and its connected accounts."""

from __future__ import annotations

from stripesim.billing.connect_accounts import is_connected
from stripesim.errors import NotFound
from stripesim.routes import Ctx, api
from stripesim.shapes import new_record
from stripesim.state import Record, State

ACCOUNT_ID = "acct_1StripesimTestAcct0"


def the_account(state: State) -> Record:
    """Created on first use, so a reset world has it too."""
    found = state.find(ACCOUNT_ID, "account")
    if found is not None:
        return found
    record = new_record(
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
    record["capabilities"] = {"card_payments": "active", "transfers": "active"}
    record["controller"] = {"type": "account"}
    record["business_profile"] = {
        "mcc": None,
        "minority_owned_business_designation": None,
        "name": "stripesim",
        "specified_commercial_transactions_act_url": None,
        "support_address": None,
        "support_email": None,
        "support_phone": None,
        "support_url": None,
        "url": None,
    }
    descriptors = (
        "statement_descriptor_prefix",
        "statement_descriptor_prefix_kana",
        "statement_descriptor_prefix_kanji",
    )
    record["settings"] = {
        "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
        "card_payments": dict.fromkeys(descriptors),
        "dashboard": {"display_name": "stripesim", "timezone": "Etc/UTC"},
        "payments": {"statement_descriptor": "STRIPESIM", **dict.fromkeys(descriptors[1:])}
        | {"statement_descriptor_kana": None, "statement_descriptor_kanji": None},
    }
    state.insert(record)
    return record


@api("GET", "/v1/account")
def retrieve_account(ctx: Ctx) -> Record:
    return the_account(ctx.state)


@api("GET", "/v1/accounts/{account}")
def retrieve_account_by_id(ctx: Ctx, account: str) -> Record:
    """The platform, or one of its connected accounts (as v1 shows an Accounts v2 account)."""
    record = the_account(ctx.state)
    if account == record["id"]:
        return record
    found = ctx.state.find(account, "account")
    if not is_connected(found):
        raise NotFound(f"No such account: '{account}'", param="account")
    assert found is not None
    return found
