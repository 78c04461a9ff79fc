"""Payment methods: test cards turned into `pm_…` objects, attached to customers."""

from __future__ import annotations

from stripesim.billing.cards import TEST_PAYMENT_METHODS, TEST_TOKENS, TestCard, card_for
from stripesim.errors import CardError, InvalidRequest
from stripesim.resources._common import new_record
from stripesim.state import Record, State


def card_error_for_number(number: str, param: str) -> CardError:
    return CardError("Your card number is incorrect.", param=param, code="incorrect_number")


def create_card(
    state: State,
    number: str,
    *,
    exp_month: int = 12,
    exp_year: int = 2034,
    billing_email: str | None = None,
    billing_name: str | None = None,
    param: str = "card[number]",
) -> Record:
    card = card_for(number)
    if card is None:
        raise card_error_for_number(number, param)
    record = new_record(
        state,
        "payment_method",
        "pm",
        created=state.now(),
        type="card",
        customer=None,
        customer_account=None,
        allow_redisplay="unspecified",
    )
    record["billing_details"] = {
        "address": {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None},
        "email": billing_email,
        "name": billing_name,
        "phone": None,
        "tax_id": None,
    }
    record["card"] = {
        "brand": card.brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
        "country": card.country,
        "display_brand": card.brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": "fp" + card.number[-8:] + card.brand[:4],
        "funding": card.funding,
        "generated_from": None,
        "last4": card.last4,
        "networks": {"available": [card.brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }
    record["_number"] = card.number
    state.insert(record)
    return record


def test_card_of(pm: Record) -> TestCard:
    card = card_for(pm.get("_number", ""))
    assert card is not None
    return card


def resolve(state: State, pm_id: str, param: str) -> Record:
    """A payment method by id; Stripe's magic test ids (`pm_card_visa`) make a fresh one."""
    if pm_id in TEST_PAYMENT_METHODS:
        return create_card(state, TEST_PAYMENT_METHODS[pm_id], param=param)
    return state.get(pm_id, "payment_method", param)


def from_token(state: State, token: str, param: str) -> Record:
    if token not in TEST_TOKENS:
        raise InvalidRequest(f"No such token: '{token}'", param=param, code="resource_missing")
    return create_card(state, TEST_TOKENS[token], param=param)


def attach(state: State, pm: Record, customer: Record) -> Record:
    if pm.get("customer") == customer["id"]:
        return pm
    if pm.get("customer"):
        raise InvalidRequest(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    pm["customer"] = customer["id"]
    state.emit("payment_method.attached", pm)
    return pm


def detach(state: State, pm: Record) -> Record:
    if not pm.get("customer"):
        raise InvalidRequest(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            param="payment_method",
        )
    customer = state.find(pm["customer"], "customer")
    pm["customer"] = None
    if customer is not None and customer["invoice_settings"]["default_payment_method"] == pm["id"]:
        with state.changing(customer):
            customer["invoice_settings"]["default_payment_method"] = None
    state.emit("payment_method.detached", pm)
    return pm


def set_default(state: State, customer: Record, pm: Record) -> None:
    if customer["invoice_settings"]["default_payment_method"] != pm["id"]:
        with state.changing(customer):
            customer["invoice_settings"]["default_payment_method"] = pm["id"]


def default_for(state: State, customer: Record | None, subscription: Record | None = None) -> Record | None:
    """The payment method an automatic charge uses: the subscription's, else the customer's."""
    for pm_id in (
        subscription.get("default_payment_method") if subscription else None,
        customer["invoice_settings"]["default_payment_method"] if customer else None,
    ):
        if pm_id:
            pm = state.find(pm_id, "payment_method")
            if pm is not None:
                return pm
    return None
