"""The work Connect's event types share: re-read the object from Stripe (a connected account's
own objects with its `Stripe-Account`), write it through the mirror under the version rule.

Connect events arrive on the Connect endpoint (`account` set: they happened on a seller's
account: `account.updated`, `payout.*`, `balance.available`) or on the platform's (transfers and
application fees are the platform's). Either way an event only says "look again": each apply
reads what Stripe holds now, so a duplicate, a late or a reordered event writes the current state,
and the same event delivered by both endpoints is stored once (by its id) anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paywire.billing.seller_status import status_of
from paywire.db.repositories import sellers
from paywire.events.handling import EventGroup, FactRule, HandlerContext
from paywire.mirror import connect as mirrored
from paywire.mirror import read_version
from paywire.outbox import Fact
from paywire.stripe import Kind, StripeNotFound
from paywire.stripe.ids import id_of

# The event types that happen on sellers' connected accounts: they come from Stripe's Connect
# endpoint (STRIPE_CONNECT_WEBHOOK_SECRET), not the platform's.
CONNECT_EVENT_TYPES = frozenset(
    {"account.updated", "balance.available", "payout.created", "payout.paid", "payout.failed"}
)


def connected_account_of(group: EventGroup) -> str | None:
    """The connected account the events happened on (`account`, set on Connect events)."""
    account = group.latest.get("account")
    return account if isinstance(account, str) and account else None


def mirror_account(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    """A seller's account: its capabilities and requirements, as Accounts v2 shows them."""
    account_id = group.object_id
    version = read_version()
    try:
        account = ctx.gateway.connect.retrieve_account(account_id)
    except StripeNotFound:
        return f"{account_id} not found in Stripe: nothing to mirror"
    seller = mirrored.write_seller(ctx.mirror.session, account, version=version)
    if seller is None:
        return f"{account_id}: not a seller of this platform"
    return f"{account_id} seller {seller.user_id}: {status_of(seller).state}"


def refresh_balance(ctx: HandlerContext, account_id: str | None) -> str:
    """The seller's balance read again (after money moved on their account)."""
    if account_id is None or sellers.find(ctx.mirror.session, account_id) is None:
        return "no seller's balance to read"
    version = read_version()
    try:
        balance = ctx.gateway.connect.balance(account_id)
    except StripeNotFound:
        return f"{account_id} not found in Stripe"
    mirrored.write_balance(ctx.mirror.session, account_id, balance, version=version)
    available, pending = mirrored.balance_values(balance)
    return f"balance of {account_id}: available {available}, pending {pending}"


def mirror_balance(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    """`balance.available` names no object: the account it happened on is the one to read."""
    return refresh_balance(ctx, connected_account_of(group))


def mirror_transfer(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    """A transfer to a seller, with the charge of the sale it pays for; and the seller's balance."""
    transfer_id = group.object_id
    version = read_version()
    try:
        transfer = ctx.gateway.connect.retrieve_transfer(transfer_id)
    except StripeNotFound:
        return f"{transfer_id} not found in Stripe: nothing to mirror"
    charge_id = id_of(transfer.get("source_transaction"))
    charge: dict[str, Any] | None = None
    if charge_id is not None:
        try:
            charge = ctx.mirror.reads.read(Kind.CHARGE, charge_id).obj
        except StripeNotFound:
            charge = None
    written = mirrored.write_transfer(ctx.mirror.session, transfer, charge, version=version)
    account_id = id_of(transfer.get("destination"))
    balance = refresh_balance(ctx, account_id)
    reversed_ = transfer.get("amount_reversed") or 0
    state = "kept" if written else "newer kept"
    return f"{transfer_id} to {account_id}: {transfer['amount']} (reversed {reversed_}) {state}; {balance}"


def mirror_fee(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    """The platform's fee on a destination charge (and what of it was refunded)."""
    fee_id = group.object_id
    version = read_version()
    try:
        fee = ctx.gateway.connect.retrieve_application_fee(fee_id)
    except StripeNotFound:
        return f"{fee_id} not found in Stripe: nothing to mirror"
    mirrored.write_fee(ctx.mirror.session, fee, version=version)
    balance = refresh_balance(ctx, id_of(fee.get("account")))
    return f"{fee_id} on {id_of(fee.get('charge'))}: {fee['amount']} (refunded {fee.get('amount_refunded')}); {balance}"


def mirror_payout(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    """A payout from a seller's balance to their bank; the facts its types hint at."""
    payout_id = group.object_id
    account_id = connected_account_of(group)
    if account_id is None:
        return f"{payout_id}: the platform's own payout, not a seller's"
    version = read_version()
    try:
        payout = ctx.gateway.connect.retrieve_payout(account_id, payout_id)
    except StripeNotFound:
        return f"{payout_id} not found in Stripe: nothing to mirror"
    mirrored.write_payout(ctx.mirror.session, account_id, payout, version=version)
    for rule in rules:
        ctx.mirror.record_facts(rule(ctx, {**payout, "account": account_id}))
    balance = refresh_balance(ctx, account_id)
    return f"{payout_id} of {account_id}: {payout['status']}; {balance}"


def payout_failed(ctx: HandlerContext, payout: dict[str, Any]) -> list[Fact]:
    """`payout_failed:<payout>`: the seller's money came back from their bank; they must fix the
    bank account (on the Express Dashboard)."""
    if payout.get("status") != "failed":
        return []
    seller = sellers.find(ctx.mirror.session, str(payout.get("account")))
    if seller is None:
        return []
    payload = {
        "payout_id": payout["id"],
        "account": seller.id,
        "amount": payout.get("amount"),
        "currency": payout.get("currency"),
        "failure_code": payout.get("failure_code"),
        "failure_message": payout.get("failure_message"),
        "email": seller.email,
    }
    return [Fact("payout_failed", f"payout_failed:{payout['id']}", seller.user_id, payout["id"], payload)]
