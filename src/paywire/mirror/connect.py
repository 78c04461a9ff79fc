"""Writing Connect's objects into the mirror: sellers' account state and balances, transfers,
application fees, payouts, each under the version rule (`stripe_version`: when the
read started; a slower, older read never overwrites a newer one).

A seller's row is keyed by their connected account. The state is taken from the account as
Accounts v2 shows it (`paywire.stripe.connect.ACCOUNT_INCLUDE`): the status of each capability
(card payments, transfers, payouts), the first reason one is not active, and the requirements,
each `{name, status, reason}` (Stripe's requirement id; currently_due / past_due /
eventually_due; routine_onboarding / routine_verification), with the soonest deadline. An
account paywire has no row for is recorded when its metadata names a user (made by paywire
before its row was committed); any other account is not the platform's concern.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from paywire.db.models import ApplicationFee, ConnectTransfer, Payout, Seller
from paywire.db.repositories import sellers
from paywire.mirror.write import write_versioned
from paywire.stripe.ids import id_of

# Capabilities a seller needs, by what each is for, in the order their reasons are shown.
CAPABILITIES = ("transfers", "card_payments", "payouts")


def _statuses(account: dict[str, Any]) -> dict[str, dict[str, Any]]:
    configuration = account.get("configuration") or {}
    merchant = (configuration.get("merchant") or {}).get("capabilities") or {}
    balance = ((configuration.get("recipient") or {}).get("capabilities") or {}).get("stripe_balance") or {}
    return {
        "card_payments": merchant.get("card_payments") or {},
        "transfers": balance.get("stripe_transfers") or {},
        "payouts": balance.get("payouts") or {},
    }


def iso_to_unix(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def seller_values(account: dict[str, Any]) -> dict[str, Any]:
    """What the mirror keeps of an Accounts v2 account. Pure."""
    statuses = _statuses(account)
    reason = None
    for name in CAPABILITIES:
        details = statuses[name].get("status_details") or []
        if statuses[name].get("status") not in (None, "active") and details:
            reason = details[0].get("code")
            break
    requirements = (account.get("requirements") or {}).get("entries") or []
    summary = ((account.get("requirements") or {}).get("summary") or {}).get("minimum_deadline") or {}
    return {
        "email": account.get("contact_email"),
        "display_name": account.get("display_name"),
        "livemode": bool(account.get("livemode")),
        "card_payments": statuses["card_payments"].get("status"),
        "transfers": statuses["transfers"].get("status"),
        "payouts": statuses["payouts"].get("status"),
        "disabled_reason": reason,
        "requirements": [
            {
                "name": entry.get("description"),
                "status": (entry.get("minimum_deadline") or {}).get("status"),
                "reason": next((r.get("code") for r in entry.get("requested_reasons") or []), None),
                "errors": [e.get("description") for e in entry.get("errors") or [] if e.get("description")],
            }
            for entry in requirements
            if entry.get("awaiting_action_from", "user") == "user"
        ],
        "deadline_status": summary.get("status"),
        "deadline": iso_to_unix(summary.get("time")),
    }


def write_seller(session: Session, account: dict[str, Any], *, version: int) -> Seller | None:
    """The seller's state as `account` (v2) shows it, read at `version`. None: not a seller of
    this platform (no row, and no user in its metadata)."""
    account_id = str(account["id"])
    known = sellers.find(session, account_id)
    user_id = known.user_id if known is not None else (account.get("metadata") or {}).get("user_id")
    if not user_id:
        return None
    values = {"id": account_id, "user_id": str(user_id), **seller_values(account), "stripe_version": version}
    if known is None:
        values.update(balance_available={}, balance_pending={})
    write_versioned(session, Seller, values)
    return sellers.find(session, account_id)


def balance_values(balance: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """(available, pending) by currency. Pure."""

    def by_currency(entries: Any) -> dict[str, int]:
        found: dict[str, int] = {}
        for entry in entries or []:
            currency = str(entry.get("currency"))
            found[currency] = found.get(currency, 0) + int(entry.get("amount") or 0)
        return found

    return by_currency(balance.get("available")), by_currency(balance.get("pending"))


def write_balance(session: Session, account_id: str, balance: dict[str, Any], *, version: int) -> bool:
    available, pending = balance_values(balance)
    return sellers.write_balance(session, account_id, available=available, pending=pending, version=version)


def transfer_values(transfer: dict[str, Any], charge: dict[str, Any] | None) -> dict[str, Any]:
    """A transfer, with the sale it pays for: a destination charge's (the charge's amount, its
    `application_fee_amount`, its metadata), or a separate transfer's own metadata (`gross`,
    `platform_fee`). Pure."""
    metadata = transfer.get("metadata") or {}
    charge = charge or {}
    own_charge = id_of(charge.get("transfer")) == transfer["id"]
    sale = (charge.get("metadata") or {}) if own_charge else metadata
    gross = charge.get("amount") if own_charge else _int(metadata.get("gross"))
    fee = charge.get("application_fee_amount") if own_charge else metadata.get("platform_fee")
    return {
        "id": transfer["id"],
        "account_id": id_of(transfer.get("destination")),
        "amount": transfer["amount"],
        "amount_reversed": transfer.get("amount_reversed") or 0,
        "currency": transfer["currency"],
        "charge_id": id_of(transfer.get("source_transaction")),
        "payment_intent_id": id_of(charge.get("payment_intent")),
        "transfer_group": transfer.get("transfer_group"),
        "gross": gross,
        "platform_fee": _int(fee),
        "product": sale.get("product"),
        "buyer_user_id": sale.get("user_id") or metadata.get("buyer_user_id"),
        "stripe_created": transfer["created"],
    }


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def write_transfer(session: Session, transfer: dict[str, Any], charge: dict[str, Any] | None, *, version: int) -> bool:
    return write_versioned(session, ConnectTransfer, {**transfer_values(transfer, charge), "stripe_version": version})


def write_fee(session: Session, fee: dict[str, Any], *, version: int) -> bool:
    values = {
        "id": fee["id"],
        "account_id": id_of(fee.get("account")),
        "charge_id": id_of(fee.get("charge")),
        "amount": fee["amount"],
        "amount_refunded": fee.get("amount_refunded") or 0,
        "currency": fee["currency"],
        "stripe_created": fee["created"],
        "stripe_version": version,
    }
    return write_versioned(session, ApplicationFee, values)


def write_payout(session: Session, account_id: str, payout: dict[str, Any], *, version: int) -> bool:
    values = {
        "id": payout["id"],
        "account_id": account_id,
        "amount": payout["amount"],
        "currency": payout["currency"],
        "status": payout["status"],
        "arrival_date": payout.get("arrival_date"),
        "failure_code": payout.get("failure_code"),
        "failure_message": payout.get("failure_message"),
        "stripe_created": payout["created"],
        "stripe_version": version,
    }
    return write_versioned(session, Payout, values)
