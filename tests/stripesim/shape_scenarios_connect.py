"""Per-type scenarios for Connect's objects, for test_shapes.py: connected accounts (v2, and v1
through `account`), account and login links, destination charges with their transfers and
application fees, refunds that reverse both, balances and payouts on the connected account.

Each returns the raw JSON objects of its type, obtained through the SDK as a platform would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import stripe

from tests.support.stripesim import Sim

Json = dict[str, Any]


def raw(obj: stripe.StripeObject) -> Json:
    response = obj.last_response
    assert response is not None
    return json.loads(response.body)


def new_account(c: stripe.StripeClient, **extra: Any) -> stripe.v2.core.Account:
    params: dict[str, Any] = {
        "display_name": "Seller",
        "contact_email": "seller@example.com",
        "dashboard": "express",
        "identity": {"country": "us", "entity_type": "individual"},
        "defaults": {"responsibilities": {"fees_collector": "application", "losses_collector": "application"}},
        "configuration": {
            "merchant": {"capabilities": {"card_payments": {"requested": True}}},
            "recipient": {"capabilities": {"stripe_balance": {"stripe_transfers": {"requested": True}}}},
        },
        "metadata": {"user_id": "shape"},
        **extra,
    }
    return c.v2.core.accounts.create(params=params)  # type: ignore[arg-type]


def onboarded_account(c: stripe.StripeClient, sim: Sim, outcome: str = "enabled", **extra: Any) -> str:
    account = new_account(c)
    sim.control(f"accounts/{account.id}/onboard", {"outcome": outcome, **extra})
    return account.id


def destination_charge(c: stripe.StripeClient, sim: Sim, account: str, fee: int = 1500) -> stripe.Charge:
    """A $100 Checkout payment paid to `account`, the platform keeping `fee`."""
    return _checkout_payment(
        c,
        sim,
        {"transfer_data": {"destination": account}, "application_fee_amount": fee, "on_behalf_of": account},
    )


def _checkout_payment(c: stripe.StripeClient, sim: Sim, payment_intent_data: dict[str, Any]) -> stripe.Charge:
    product = c.v1.products.create(params={"name": "Session"})
    price = c.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 10000})
    session = c.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "http://127.0.0.1:9/ok",
            "payment_intent_data": payment_intent_data,  # type: ignore[typeddict-item]
        }
    )
    assert sim.complete_checkout(session.id).status_code == 200
    intent = c.v1.payment_intents.retrieve(str(c.v1.checkout.sessions.retrieve(session.id).payment_intent))
    return c.v1.charges.retrieve(str(intent.latest_charge))


def v2_account(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    everything = ["configuration.merchant", "configuration.recipient", "defaults", "identity", "requirements"]
    created = new_account(c, include=everything)
    due = onboarded_account(c, sim, "requirements_due", deadline=4_102_444_800)
    past_due = onboarded_account(c, sim, "requirements_due")
    disabled = onboarded_account(c, sim, "disabled")
    found = [raw(created), raw(c.v2.core.accounts.retrieve(created.id))]
    for account in (due, past_due, disabled):
        found.append(raw(c.v2.core.accounts.retrieve(account, params={"include": everything})))  # type: ignore[typeddict-item]
    found.append(raw(c.v2.core.accounts.update(created.id, params={"display_name": "Renamed"})))
    return found


def v1_connected_account(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    return [raw(c.v1.accounts.retrieve(onboarded_account(c, sim, outcome))) for outcome in ("enabled", "disabled")]


def account_link(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    account = new_account(c)
    links = []
    for kind in ("account_onboarding", "account_update"):
        use_case = {"type": kind, kind: {"refresh_url": "http://127.0.0.1:9/refresh", "return_url": "http://x/r"}}
        links.append(raw(c.v2.core.account_links.create(params={"account": account.id, "use_case": use_case})))  # type: ignore[typeddict-item]
    return links


def login_link(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    return [raw(c.v1.accounts.login_links.create(onboarded_account(c, sim)))]


def transfer(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    account = onboarded_account(c, sim)
    charge = destination_charge(c, sim, account)
    order = _checkout_payment(c, sim, {"transfer_group": "order_shape"})
    separate = c.v1.transfers.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "destination": account,
            "transfer_group": "order_shape",
            "source_transaction": order.id,
        }
    )
    c.v1.transfers.reversals.create(separate.id, params={"amount": 400})
    return [
        raw(c.v1.transfers.retrieve(str(charge.transfer))),
        raw(separate),
        raw(c.v1.transfers.retrieve(separate.id)),
        *raw(c.v1.transfers.list(params={"destination": account}))["data"],
    ]


def transfer_reversal(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    account = onboarded_account(c, sim)
    separate = c.v1.transfers.create(params={"amount": 1000, "currency": "usd", "destination": account})
    reversal = c.v1.transfers.reversals.create(separate.id, params={"amount": 300, "metadata": {"why": "shape"}})
    return [raw(reversal), *raw(c.v1.transfers.reversals.list(separate.id))["data"]]


def application_fee(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    charge = destination_charge(c, sim, onboarded_account(c, sim))
    c.v1.refunds.create(
        params={"charge": charge.id, "amount": 5000, "reverse_transfer": True, "refund_application_fee": True}
    )
    return [
        raw(c.v1.application_fees.retrieve(str(charge.application_fee))),
        *raw(c.v1.application_fees.list())["data"],
    ]


def fee_refund(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    charge = destination_charge(c, sim, onboarded_account(c, sim))
    return [raw(c.v1.application_fees.refunds.create(str(charge.application_fee), params={"amount": 100}))]


def balance(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    account = onboarded_account(c, sim)
    before = raw(c.v1.balance.retrieve(options={"stripe_account": account}))
    destination_charge(c, sim, account)
    return [before, raw(c.v1.balance.retrieve(options={"stripe_account": account}))]


def balance_transaction(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    account = onboarded_account(c, sim)
    charge = destination_charge(c, sim, account)
    c.v1.refunds.create(params={"charge": charge.id, "reverse_transfer": True, "refund_application_fee": True})
    sim.control(f"accounts/{account}/payouts", {"arrive": True})
    return raw(c.v1.balance_transactions.list(options={"stripe_account": account}))["data"]


def payout(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    """A payout paid, and one to a test bank account that fails (its money comes back)."""
    paid = onboarded_account(c, sim)
    destination_charge(c, sim, paid)
    sim.control(f"accounts/{paid}/payouts", {"arrive": True})
    failing = onboarded_account(c, sim, bank_account="000111111116")
    destination_charge(c, sim, failing)
    sim.control(f"accounts/{failing}/payouts", {"arrive": True})
    return [
        *raw(c.v1.payouts.list(options={"stripe_account": paid}))["data"],
        *raw(c.v1.payouts.list(options={"stripe_account": failing}))["data"],
    ]


CONNECT_SCENARIOS: list[tuple[str, Callable[[stripe.StripeClient, Sim], list[Json]]]] = [
    ("v2.core.account", v2_account),
    ("v2.core.account_link", account_link),
    ("login_link", login_link),
    ("transfer", transfer),
    ("transfer_reversal", transfer_reversal),
    ("application_fee", application_fee),
    ("fee_refund", fee_refund),
    ("balance", balance),
    ("balance_transaction", balance_transaction),
    ("payout", payout),
]


def connected_events(c: stripe.StripeClient) -> list[Json]:
    """Every event of every connected account (listed with its `Stripe-Account`)."""
    found: list[Json] = []
    for account in c.v2.core.accounts.list().data:
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = raw(c.v1.events.list(params=params, options={"stripe_account": account.id}))  # type: ignore[arg-type]
            found += page["data"]
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
    return found
