"""Money on connected accounts: destination charges, transfers and their reversals, application
fees and their refunds, balances and payouts.

A destination charge (a payment intent with `transfer_data.destination`) is settled the moment it
succeeds, as Stripe settles it:
- a transfer of the whole amount (or `transfer_data.amount`) to the connected account, in the
  charge's `transfer_group` (`group_<payment intent>` unless one was given);
- with `application_fee_amount`, an application fee the platform collects back from that payment:
  the account's balance transaction for it is the amount, with the fee as its fee, so it nets
  the amount less the platform's fee. Stripe's own processing fee is the platform's (it makes
  the charge): the connected account never sees it;
- the account's share is pending until `connect_available_after_s` have passed, then available
  (`balance.available`); an automatic payout of what is available follows after
  `connect_payout_after_s` (0: none), and arrives after `connect_payout_arrives_after_s`: `paid`,
  or `failed` for a test bank account that fails (its money comes back to the balance).

A refund with `reverse_transfer` takes the refunded share back from the account (a transfer
reversal) and with `refund_application_fee` gives back the same share of the platform's fee.
A separate charge's transfer (`POST /v1/transfers`, maybe with a `source_transaction`) pays an
account from the platform; it can be reversed too. The platform's own balance is not simulated.
Events on connected accounts (`balance.available`, `payout.*`) carry `account`; transfers and
application fees are the platform's.
"""

from __future__ import annotations

from typing import Any

from stripesim.billing import payments
from stripesim.billing.connect_accounts import can_pay_out, can_take_transfers, connected, is_connected, payout_failure
from stripesim.engine import timer
from stripesim.errors import InvalidRequest
from stripesim.shapes import blank, new_record
from stripesim.state import Record, State, renderer

# The platform's Connect application, as application fees name it.
PLATFORM_APPLICATION = "ca_StripesimPlatform0"
# Stripe's standard pricing for US cards: 2.9 % + 30¢ a successful charge.
STRIPE_FEE_PER_MILLE = 29
STRIPE_FEE_FIXED = 30


def stripe_fee(amount: int) -> int:
    """What Stripe charges for processing a card payment of `amount` (US pricing)."""
    return round(amount * STRIPE_FEE_PER_MILLE / 1000) + STRIPE_FEE_FIXED


def _txn(
    state: State,
    account: str,
    *,
    amount: int,
    type_: str,
    source: str,
    category: str,
    available_on: int,
    fee: int = 0,
    fee_details: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> Record:
    now = state.now()
    txn = new_record(
        "balance_transaction",
        "txn",
        created=now,
        amount=amount,
        available_on=available_on,
        balance_type="payments",
        currency="usd",
        description=description,
        exchange_rate=None,
        fee=fee,
        fee_details=list(fee_details or []),
        net=amount - fee,
        reporting_category=category,
        source=source,
        status="pending" if available_on > now else "available",
        type=type_,
    )
    txn["_account"] = account
    state.insert(txn)
    return txn


def _follows(state: State, txn_id: str | None) -> int:
    """When money tied to an earlier transaction becomes available: with it, or now."""
    earlier = state.find(txn_id, "balance_transaction")
    return int(earlier["available_on"]) if earlier is not None and earlier["status"] == "pending" else state.now()


def balance_of(state: State, account: str) -> Record:
    """The account's balance: available and pending, by currency."""
    sums: dict[str, dict[str, int]] = {"available": {}, "pending": {}}
    for txn in state.where("balance_transaction", _account=account):
        bucket = sums["available" if txn["status"] == "available" else "pending"]
        bucket[txn["currency"]] = bucket.get(txn["currency"], 0) + txn["net"]
    shown = blank("balance")
    for status in ("available", "pending"):
        amounts = sums[status] or {"usd": 0}
        shown[status] = [
            {"amount": amount, "currency": currency, "source_types": {"card": amount}}
            for currency, amount in sorted(amounts.items())
        ]
    return shown


def _new_transfer(
    state: State,
    account: Record,
    *,
    amount: int,
    currency: str,
    source_transaction: str | None,
    transfer_group: str | None,
    description: str | None,
    metadata: dict[str, str],
) -> Record:
    transfer = new_record(
        "transfer",
        "tr",
        created=state.now(),
        amount=amount,
        amount_reversed=0,
        balance_transaction=None,
        currency=currency,
        description=description,
        destination=account["id"],
        reversed=False,
        source_transaction=source_transaction,
        source_type="card",
        transfer_group=transfer_group,
    )
    transfer.pop("destination_payment", None)
    transfer["metadata"] = dict(metadata)
    transfer["_reversals"] = []
    state.insert(transfer)
    return transfer


def settle_destination_charge(state: State, pi: Record, charge: Record) -> None:
    """A charge paying a connected account (`transfer_data`): its transfer and its fee."""
    data = pi.get("transfer_data")
    if not data:
        return
    account = connected(state, data["destination"], "transfer_data[destination]")
    fee_amount = int(pi.get("application_fee_amount") or 0)
    whole = data.get("amount")
    amount = int(whole) if whole is not None else charge["amount"]
    group = pi.get("transfer_group") or f"group_{pi['id']}"
    charge["transfer_data"] = {"amount": whole, "destination": account["id"]}
    charge["transfer_group"] = group
    charge["on_behalf_of"] = pi.get("on_behalf_of")
    charge["application_fee_amount"] = fee_amount or None
    transfer = _new_transfer(
        state,
        account,
        amount=amount,
        currency=charge["currency"],
        source_transaction=charge["id"],
        transfer_group=group,
        description=None,
        metadata={},
    )
    charge["transfer"] = transfer["id"]
    details = []
    if fee_amount:
        details = [
            {
                "amount": fee_amount,
                "application": PLATFORM_APPLICATION,
                "currency": charge["currency"],
                "description": "Application fee",
                "type": "application_fee",
            }
        ]
    txn = _txn(
        state,
        account["id"],
        amount=amount,
        type_="payment",
        source=transfer["id"],
        category="charge",
        available_on=state.now() + state.config.connect_available_after_s,
        fee=fee_amount,
        fee_details=details,
        description=charge.get("description"),
    )
    transfer["_payment_txn"] = txn["id"]
    state.emit("transfer.created", transfer)
    if fee_amount:
        fee = new_record(
            "application_fee",
            "fee",
            created=state.now(),
            account=account["id"],
            amount=fee_amount,
            amount_refunded=0,
            application=PLATFORM_APPLICATION,
            balance_transaction=None,
            charge=charge["id"],
            currency=charge["currency"],
            fee_source={"charge": charge["id"], "type": "charge"},
            originating_transaction=charge["id"],
            refunded=False,
        )
        fee["_refunds"] = []
        fee["_payment_txn"] = txn["id"]
        state.insert(fee)
        charge["application_fee"] = fee["id"]
        state.emit("application_fee.created", fee)


def create_transfer(
    state: State,
    destination: str,
    *,
    amount: int,
    currency: str,
    source_transaction: str | None,
    transfer_group: str | None,
    description: str | None,
    metadata: dict[str, str],
) -> Record:
    """A separate transfer from the platform to a connected account (separate charges and
    transfers). With `source_transaction` it waits for that charge's funds and cannot exceed
    what is left of it."""
    account = connected(state, destination, "destination")
    if not can_take_transfers(account):
        raise InvalidRequest(
            "Your destination account needs to have at least one of the following capabilities enabled: "
            "transfers, crypto_transfers, legacy_payments",
            param="destination",
            code="insufficient_capabilities_for_transfer",
        )
    available_on = state.now()
    if source_transaction is not None:
        charge = state.get(source_transaction, "charge", "source_transaction")
        if charge["status"] != "succeeded":
            raise InvalidRequest("The source_transaction has not succeeded.", param="source_transaction")
        if charge["currency"] != currency:
            raise InvalidRequest("The currency must match the source_transaction's.", param="currency")
        sent = sum(t["amount"] - t["amount_reversed"] for t in state.where("transfer", source_transaction=charge["id"]))
        left = charge["amount"] - charge["amount_refunded"] - sent
        if amount > left:
            raise InvalidRequest(
                f"Insufficient funds in the source transaction: {amount} asked, {left} left.",
                param="amount",
                code="balance_insufficient",
            )
        available_on = charge["created"] + state.config.connect_available_after_s
        available_on = max(available_on, state.now())
    transfer = _new_transfer(
        state,
        account,
        amount=amount,
        currency=currency,
        source_transaction=source_transaction,
        transfer_group=transfer_group,
        description=description,
        metadata=metadata,
    )
    txn = _txn(
        state,
        account["id"],
        amount=amount,
        type_="payment",
        source=transfer["id"],
        category="charge",
        available_on=available_on,
        description=description,
    )
    transfer["_payment_txn"] = txn["id"]
    state.emit("transfer.created", transfer)
    return transfer


def reverse_transfer(
    state: State,
    transfer: Record,
    amount: int | None,
    *,
    metadata: dict[str, str] | None = None,
    source_refund: str | None = None,
    refund_application_fee: bool = False,
) -> Record:
    """Take (part of) a transfer back from the connected account."""
    left = transfer["amount"] - transfer["amount_reversed"]
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise InvalidRequest(
            f"Reversal amount ({amount}) is greater than the transfer's unreversed amount ({left}).", param="amount"
        )
    reversal = new_record(
        "transfer_reversal",
        "trr",
        created=state.now(),
        amount=amount,
        balance_transaction=None,
        currency=transfer["currency"],
        destination_payment_refund=None,
        metadata=dict(metadata or {}),
        source_refund=source_refund,
        transfer=transfer["id"],
    )
    state.insert(reversal)
    _txn(
        state,
        str(transfer["destination"]),
        amount=-amount,
        type_="payment_refund",
        source=reversal["id"],
        category="refund",
        available_on=_follows(state, transfer.get("_payment_txn")),
    )
    with state.changing(transfer, "transfer.reversed"):
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        transfer["_reversals"].append(reversal["id"])
    if refund_application_fee and transfer.get("source_transaction"):
        charge = state.find(transfer["source_transaction"], "charge")
        fee = state.find((charge or {}).get("application_fee"), "application_fee")
        if charge is not None and fee is not None:
            share = min(round(fee["amount"] * amount / transfer["amount"]), fee["amount"] - fee["amount_refunded"])
            if share > 0:
                refund_fee(state, fee, share)
    return reversal


def refund_fee(state: State, fee: Record, amount: int | None, metadata: dict[str, str] | None = None) -> Record:
    """Give (part of) an application fee back to the connected account it came from."""
    left = fee["amount"] - fee["amount_refunded"]
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise InvalidRequest(
            f"Refund amount ({amount}) is greater than the application fee's unrefunded amount ({left}).",
            param="amount",
        )
    refund = new_record(
        "fee_refund",
        "fr",
        created=state.now(),
        amount=amount,
        balance_transaction=None,
        currency=fee["currency"],
        fee=fee["id"],
        metadata=dict(metadata or {}),
    )
    state.insert(refund)
    _txn(
        state,
        str(fee["account"]),
        amount=amount,
        type_="application_fee_refund",
        source=refund["id"],
        category="platform_earning_refund",
        available_on=_follows(state, fee.get("_payment_txn")),
    )
    with state.changing(fee, "application_fee.refunded"):
        fee["amount_refunded"] += amount
        fee["refunded"] = fee["amount_refunded"] >= fee["amount"]
        fee["_refunds"].append(refund["id"])
    return refund


def refund_destination_charge(state: State, charge: Record, refund: Record, options: dict[str, bool]) -> None:
    """A refund of a destination charge: reverse the refunded share of its transfer and of its
    application fee, as the refund asked."""
    transfer = state.find(charge.get("transfer"), "transfer")
    if transfer is None or not (options["reverse_transfer"] or options["refund_application_fee"]):
        return
    share = refund["amount"] / charge["amount"]
    if options["reverse_transfer"]:
        amount = min(round(transfer["amount"] * share), transfer["amount"] - transfer["amount_reversed"])
        if amount > 0:
            reversal = reverse_transfer(state, transfer, amount, source_refund=refund["id"])
            refund["transfer_reversal"] = reversal["id"]
    fee = state.find(charge.get("application_fee"), "application_fee")
    if options["refund_application_fee"] and fee is not None:
        amount = min(round(fee["amount"] * share), fee["amount"] - fee["amount_refunded"])
        if amount > 0:
            refund_fee(state, fee, amount)


payments.ON_CHARGE_SUCCEEDED.append(settle_destination_charge)
payments.ON_REFUNDED.append(refund_destination_charge)


@timer(
    "balance_transaction",
    lambda state, t: t["available_on"] if t.get("_account") and t["status"] == "pending" else None,
)
def make_available(state: State, txn: Record, at: int) -> None:
    """Funds reach the available balance; an automatic payout follows (when there are any)."""
    txn["status"] = "available"
    account = state.find(txn["_account"], "account")
    if account is None:
        return
    state.emit("balance.available", account, snapshot=balance_of(state, account["id"]), account=account["id"])
    delay = state.config.connect_payout_after_s
    if delay > 0 and account.get("_payout_due") is None:
        account["_payout_due"] = at + delay


@timer("account", lambda state, a: a.get("_payout_due") if is_connected(a) else None)
def automatic_payout(state: State, account: Record, at: int) -> None:
    account["_payout_due"] = None
    pay_out(state, account, automatic=True)


def pay_out(state: State, account: Record, *, automatic: bool, amount: int | None = None) -> Record | None:
    """Pay the available balance (or `amount` of it) out to the account's bank account. None:
    nothing to pay, or payouts are not enabled."""
    available = balance_of(state, account["id"])["available"][0]["amount"]
    amount = available if amount is None else amount
    if amount <= 0 or not can_pay_out(account):
        return None
    if amount > available:
        raise InvalidRequest(
            f"You have insufficient funds in your Stripe account: {available} available.",
            param="amount",
            code="balance_insufficient",
        )
    now = state.now()
    payout = new_record(
        "payout",
        "po",
        created=now,
        amount=amount,
        application_fee=None,
        application_fee_amount=None,
        arrival_date=now + state.config.connect_payout_arrives_after_s,
        automatic=automatic,
        currency="usd",
        description="STRIPE PAYOUT",
        destination=f"ba_{account['id'][5:]}",
        failure_balance_transaction=None,
        failure_code=None,
        failure_message=None,
        method="standard",
        original_payout=None,
        payout_method=None,
        reconciliation_status="not_applicable",
        reversed_by=None,
        source_type="card",
        statement_descriptor=None,
        status="pending",
        trace_id=None,
        type="bank_account",
    )
    payout["metadata"] = {}
    payout["_account"] = account["id"]
    state.insert(payout)
    txn = _txn(
        state,
        account["id"],
        amount=-amount,
        type_="payout",
        source=payout["id"],
        category="payout",
        available_on=now,
        description="STRIPE PAYOUT",
    )
    payout["balance_transaction"] = txn["id"]
    state.emit("payout.created", payout, account=account["id"])
    return payout


@timer("payout", lambda state, p: p["arrival_date"] if p["status"] == "pending" else None)
def arrive(state: State, payout: Record, at: int) -> None:
    """The bank takes the payout, or sends it back (a failing test bank account)."""
    account = state.get(payout["_account"], "account")
    failure = payout_failure(account)
    if failure is None:
        with state.changing(payout, "payout.paid", account=account["id"]):
            payout["status"] = "paid"
        return
    txn = _txn(
        state,
        account["id"],
        amount=payout["amount"],
        type_="payout_failure",
        source=payout["id"],
        category="payout_reversal",
        available_on=at,
        description="Payout failed",
    )
    with state.changing(payout, "payout.failed", account=account["id"]):
        payout["status"] = "failed"
        payout["failure_code"], payout["failure_message"] = failure
        payout["failure_balance_transaction"] = txn["id"]


def _embedded_list(state: State, ids: list[str], object_type: str, url: str) -> Record:
    """A list Stripe embeds in its parent (a transfer's reversals, a fee's refunds)."""
    return {
        "object": "list",
        "data": [state.render(state.get(r, object_type)) for r in ids],
        "has_more": False,
        "url": url,
    }


@renderer("transfer")
def render_transfer(state: State, transfer: Record) -> Record:
    reversals = _embedded_list(
        state, transfer.get("_reversals", []), "transfer_reversal", f"/v1/transfers/{transfer['id']}/reversals"
    )
    return {**transfer, "reversals": reversals}


@renderer("application_fee")
def render_fee(state: State, fee: Record) -> Record:
    refunds = _embedded_list(state, fee.get("_refunds", []), "fee_refund", f"/v1/application_fees/{fee['id']}/refunds")
    return {**fee, "refunds": refunds}
