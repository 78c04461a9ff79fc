"""Connect: connected accounts (Accounts v2, and their v1 side), account links, login links,
transfers and reversals, application fees, and each account's balance and payouts
(`Stripe-Account`). The simulator's controls: `POST /_sim/accounts/{account}/onboard` (what the
hosted onboarding page does) and `POST /_sim/accounts/{account}/payouts` (pay out now)."""

from __future__ import annotations

from typing import Any

from stripesim.billing import connect_accounts as accounts
from stripesim.billing import connect_funds as funds
from stripesim.errors import InvalidRequest, NotFound, RouteNotFound
from stripesim.present import list_page, paginate
from stripesim.resources._common import apply_metadata, created_filter, created_match, equal_match, every, filter_equal
from stripesim.routes import Ctx, api, sim, v2
from stripesim.state import Record, State
from stripesim.wire import Params

INCLUDABLE = ("configuration.merchant", "configuration.recipient", "defaults", "identity", "requirements")
DASHBOARDS = ("express", "full", "none")
FEES_COLLECTORS = ("application", "application_custom", "application_express", "stripe")


def _include(p: Params) -> list[str]:
    raw = p.raw("include")
    wanted = [raw] if isinstance(raw, str) else list(raw or [])
    for name in wanted:
        if name not in INCLUDABLE:
            raise InvalidRequest(f"include: {name!r} is not one of {', '.join(INCLUDABLE)}.", param="include")
    return [str(name) for name in wanted]


def _requested(configuration: Params | None, name: str, *path: str) -> bool:
    """Whether `configuration[name][capabilities][…path][requested]` is true."""
    node = configuration.sub(name) if configuration is not None else None
    if node is None:
        return False
    node = node.sub("capabilities")
    for key in path:
        node = node.sub(key) if node is not None else None
    return bool(node is not None and node.bool("requested"))


def _replayed(ctx: Ctx) -> Record | None:
    """A v2 create sent again with the same idempotency key: the account it made."""
    if not ctx.idempotency_key:
        return None
    made = ctx.state.extras.setdefault("v2_idempotency", {})
    found = made.get(f"{ctx.api_key}:{ctx.idempotency_key}")
    return ctx.state.find(found, "account") if found else None


@v2("POST", "/v2/core/accounts")
def create_account(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "contact_email", "display_name", "dashboard", "identity", "configuration", "defaults", "metadata", "include"
    )
    include = _include(p)
    replayed = _replayed(ctx)
    if replayed is not None:
        return accounts.v2_view(replayed, include)
    identity = p.sub("identity")
    configuration = p.sub("configuration")
    responsibilities = (p.sub("defaults") or Params({})).sub("responsibilities") or Params({})
    merchant = configuration is not None and configuration.sub("merchant") is not None
    recipient = configuration is not None and configuration.sub("recipient") is not None
    if not (merchant or recipient):
        raise InvalidRequest(
            "A connected account needs the merchant or the recipient configuration.", param="configuration"
        )
    if merchant and not _requested(configuration, "merchant", "card_payments"):
        raise InvalidRequest(
            "Request configuration.merchant.capabilities.card_payments.", param="configuration.merchant"
        )
    if recipient and not _requested(configuration, "recipient", "stripe_balance", "stripe_transfers"):
        raise InvalidRequest(
            "Request configuration.recipient.capabilities.stripe_balance.stripe_transfers.",
            param="configuration.recipient",
        )
    account = accounts.create_account(
        ctx.state,
        display_name=p.str("display_name"),
        contact_email=p.str("contact_email"),
        dashboard=p.str("dashboard", choices=DASHBOARDS, default="full") or "full",
        country=(identity.str("country") if identity else None) or "us",
        entity_type=identity.str("entity_type") if identity else None,
        fees_collector=responsibilities.str("fees_collector", choices=FEES_COLLECTORS, default="stripe") or "stripe",
        losses_collector=responsibilities.str("losses_collector", choices=("application", "stripe"), default="stripe")
        or "stripe",
        merchant=merchant,
        recipient=recipient,
        metadata=p.metadata() or {},
    )
    if ctx.idempotency_key:
        ctx.state.extras["v2_idempotency"][f"{ctx.api_key}:{ctx.idempotency_key}"] = account["id"]
    return accounts.v2_view(account, include)


@v2("GET", "/v2/core/accounts/{account}")
def retrieve_account(ctx: Ctx, account: str) -> Record:
    p = ctx.params.only("include")
    return accounts.v2_view(accounts.connected(ctx.state, account, "id"), _include(p))


@v2("POST", "/v2/core/accounts/{account}")
def update_account(ctx: Ctx, account: str) -> Record:
    p = ctx.params.only("contact_email", "display_name", "metadata", "include")
    record = accounts.connected(ctx.state, account, "id")
    accounts.update(
        ctx.state,
        record,
        display_name=p.str("display_name"),
        contact_email=p.str("contact_email"),
        metadata=p.metadata(),
    )
    return accounts.v2_view(record, _include(p))


@v2("GET", "/v2/core/accounts")
def list_accounts(ctx: Ctx) -> Record:
    p = ctx.params.only("limit", "page", "include")
    include = _include(p)
    found = [r for r in ctx.state.all("account") if accounts.is_connected(r)]
    return {
        "data": [accounts.v2_view(r, include) for r in found],
        "next_page_url": None,
        "previous_page_url": None,
    }


@v2("POST", "/v2/core/account_links")
def create_account_link(ctx: Ctx) -> Record:
    p = ctx.params.only("account", "use_case")
    account = accounts.connected(ctx.state, p.str("account", required=True), "account")
    use_case = p.sub("use_case", required=True)
    assert use_case is not None
    kind = use_case.str("type", required=True, choices=("account_onboarding", "account_update")) or ""
    use_case.only("type", kind)
    options = use_case.sub(kind, required=True)
    assert options is not None
    options.only("refresh_url", "return_url", "collection_options", "configurations")
    shown: Record = {"refresh_url": options.str("refresh_url", required=True)}
    if options.has("return_url"):
        shown["return_url"] = options.str("return_url")
    link = accounts.new_account_link(ctx.state, account, kind, shown)
    return {k: v for k, v in link.items() if not k.startswith("_") and k != "id"}


@api("POST", "/v1/accounts/{account}/login_links")
def create_login_link(ctx: Ctx, account: str) -> Record:
    return accounts.login_link(ctx.state, accounts.connected(ctx.state, account))


def _on_account(ctx: Ctx) -> Record:
    """The connected account a request names with `Stripe-Account`; the platform's own
    balance and payouts are not simulated."""
    if ctx.stripe_account is None:
        raise RouteNotFound(ctx.method, ctx.path)
    found = ctx.state.find(ctx.stripe_account, "account")
    if not accounts.is_connected(found):
        raise InvalidRequest(
            f"The provided key does not have access to account '{ctx.stripe_account}' (or that account does "
            "not exist). Application access may have been revoked.",
            param="Stripe-Account",
        )
    assert found is not None
    return found


def _owned(ctx: Ctx, object_id: str, object_type: str, account: Record) -> Record:
    found = ctx.state.find(object_id, object_type)
    if found is None or found.get("_account") != account["id"]:
        raise NotFound(f"No such {object_type}: '{object_id}'", param="id")
    return found


@api("GET", "/v1/balance")
def retrieve_balance(ctx: Ctx) -> Record:
    return funds.balance_of(ctx.state, _on_account(ctx)["id"])


@api("GET", "/v1/balance_transactions")
def list_balance_transactions(ctx: Ctx) -> Record:
    account = _on_account(ctx)
    p = ctx.params.only("limit", "starting_after", "ending_before", "created", "type", "source", "payout")
    records = filter_equal(ctx.state.where("balance_transaction", _account=account["id"]), p, "type", "source")
    return paginate(created_filter(p, records), p, "/v1/balance_transactions")


@api("GET", "/v1/balance_transactions/{txn}")
def retrieve_balance_transaction(ctx: Ctx, txn: str) -> Record:
    return _owned(ctx, txn, "balance_transaction", _on_account(ctx))


@api("GET", "/v1/payouts")
def list_payouts(ctx: Ctx) -> Record:
    account = _on_account(ctx)
    p = ctx.params.only("limit", "starting_after", "ending_before", "created", "status", "arrival_date")
    records = filter_equal(ctx.state.where("payout", _account=account["id"]), p, "status")
    return paginate(created_filter(p, records), p, "/v1/payouts")


@api("GET", "/v1/payouts/{payout}")
def retrieve_payout(ctx: Ctx, payout: str) -> Record:
    return _owned(ctx, payout, "payout", _on_account(ctx))


@api("POST", "/v1/payouts")
def create_payout(ctx: Ctx) -> Record:
    account = _on_account(ctx)
    p = ctx.params.only("amount", "currency", "description", "metadata")
    p.str("currency", required=True, choices=("usd",))
    payout = funds.pay_out(ctx.state, account, automatic=False, amount=p.int("amount", required=True, minimum=1))
    if payout is None:
        raise InvalidRequest("Payouts are not enabled for this account.", param="amount", code="payouts_not_allowed")
    apply_metadata(payout, p)
    return payout


@api("POST", "/v1/transfers")
def create_transfer(ctx: Ctx) -> Record:
    p = ctx.params.only(
        "amount", "currency", "destination", "transfer_group", "source_transaction", "description", "metadata"
    )
    return funds.create_transfer(
        ctx.state,
        p.str("destination", required=True) or "",
        amount=p.int("amount", required=True, minimum=1) or 0,
        currency=(p.str("currency", required=True) or "").lower(),
        source_transaction=p.str("source_transaction"),
        transfer_group=p.str("transfer_group"),
        description=p.str("description"),
        metadata=p.metadata() or {},
    )


@api("GET", "/v1/transfers/{transfer}")
def retrieve_transfer(ctx: Ctx, transfer: str) -> Record:
    return ctx.state.get(transfer, "transfer")


@api("GET", "/v1/transfers")
def list_transfers(ctx: Ctx) -> Record:
    p = ctx.params.only("limit", "starting_after", "ending_before", "created", "destination", "transfer_group")
    keep = every(equal_match(p, "destination", "transfer_group"), created_match(p))
    return list_page(ctx.state, "transfer", p, "/v1/transfers", keep)


@api("POST", "/v1/transfers/{transfer}/reversals")
def create_reversal(ctx: Ctx, transfer: str) -> Record:
    p = ctx.params.only("amount", "description", "metadata", "refund_application_fee")
    return funds.reverse_transfer(
        ctx.state,
        ctx.state.get(transfer, "transfer"),
        p.int("amount", minimum=1),
        metadata=p.metadata() or {},
        refund_application_fee=bool(p.bool("refund_application_fee")),
    )


@api("GET", "/v1/transfers/{transfer}/reversals")
def list_reversals(ctx: Ctx, transfer: str) -> Record:
    p = ctx.params.only("limit", "starting_after", "ending_before")
    record = ctx.state.get(transfer, "transfer")
    found = [ctx.state.get(r, "transfer_reversal") for r in reversed(record["_reversals"])]
    return paginate(found, p, f"/v1/transfers/{transfer}/reversals")


@api("GET", "/v1/application_fees/{fee}")
def retrieve_application_fee(ctx: Ctx, fee: str) -> Record:
    return ctx.state.get(fee, "application_fee")


@api("GET", "/v1/application_fees")
def list_application_fees(ctx: Ctx) -> Record:
    p = ctx.params.only("limit", "starting_after", "ending_before", "created", "charge")
    keep = every(equal_match(p, "charge"), created_match(p))
    return list_page(ctx.state, "application_fee", p, "/v1/application_fees", keep)


@api("POST", "/v1/application_fees/{fee}/refunds")
def refund_application_fee(ctx: Ctx, fee: str) -> Record:
    p = ctx.params.only("amount", "metadata")
    return funds.refund_fee(
        ctx.state, ctx.state.get(fee, "application_fee"), p.int("amount", minimum=1), p.metadata() or {}
    )


@sim("POST", "/_sim/accounts/{account}/onboard")
def onboard(ctx: Ctx, account: str) -> dict[str, Any]:
    """What finishing hosted onboarding does: `outcome=enabled|requirements_due|disabled`,
    `bank_account` (a test account number; 000111111116 makes payouts fail), `deadline` (unix
    seconds: with `requirements_due`, when the requirement falls due; absent: already past due)."""
    p = ctx.params.only("outcome", "bank_account", "deadline")
    record = accounts.onboard(
        ctx.state,
        accounts.connected(ctx.state, account),
        p.str("outcome", required=True) or "",
        bank_account=p.str("bank_account"),
        deadline=p.int("deadline"),
    )
    return accounts.v2_view(record, list(INCLUDABLE))


@sim("POST", "/_sim/accounts/{account}/payouts")
def pay_out_now(ctx: Ctx, account: str) -> dict[str, Any]:
    """Make the account's pending funds available now and pay its balance out at once (the
    payout then arrives after `connect_payout_arrives_after_s`; `arrive=true`: at once too)."""
    p = ctx.params.only("arrive")
    state = ctx.state
    record = accounts.connected(state, account)
    _release_funds(state, record)
    payout = funds.pay_out(state, record, automatic=True)
    if payout is not None and p.bool("arrive"):
        funds.arrive(state, payout, state.now())
    return {"payout": state.snapshot(payout) if payout is not None else None}


def _release_funds(state: State, account: Record) -> None:
    for txn in state.where("balance_transaction", _account=account["id"], status="pending"):
        funds.make_available(state, txn, state.now())
        txn["available_on"] = min(txn["available_on"], state.now())
