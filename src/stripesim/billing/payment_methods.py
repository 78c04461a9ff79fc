"""Payment methods: test cards turned into `pm_…` objects, attached to customers, saved for
later payments through setup intents."""

from __future__ import annotations

from collections.abc import Callable

from stripesim.billing.cards import TEST_PAYMENT_METHODS, TEST_TOKENS, TestCard, card_for
from stripesim.errors import CardError, InvalidRequest, no_such
from stripesim.shapes import new_record
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
        raise no_such("token", token, param)
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


# Called after a customer's or a subscription's default payment method changed (the
# subscription, or None for the customer's): open invoices are retried with the new one.
NewDefaultHook = Callable[[State, Record, Record | None], None]
ON_NEW_DEFAULT: list[NewDefaultHook] = []


def set_default(state: State, customer: Record, pm: Record) -> None:
    if customer["invoice_settings"]["default_payment_method"] != pm["id"]:
        with state.changing(customer):
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
        announce_new_default(state, customer, None)


def announce_new_default(state: State, customer: Record, subscription: Record | None) -> None:
    """A default payment method changed, after its own event (`customer.updated`, or the
    subscription's update)."""
    for hook in ON_NEW_DEFAULT:
        hook(state, customer, subscription)


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


def create_setup_intent(state: State, customer: str | None, pm: Record | None, usage: str = "off_session") -> Record:
    """A setup intent that saved `pm` for later payments (succeeded), or waits for one."""
    si = new_record(
        "setup_intent",
        "seti",
        created=state.now_for({"customer": customer}),
        automatic_payment_methods=None,
        customer=customer,
        last_setup_error=None,
        latest_attempt=None,
        mandate=None,
        next_action=None,
        on_behalf_of=None,
        payment_method=pm["id"] if pm else None,
        payment_method_configuration_details=None,
        payment_method_options={
            "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
        },
        payment_method_types=["card"],
        single_use_mandate=None,
        status="succeeded" if pm else "requires_payment_method",
        usage=usage,
        flow_directions=None,
        excluded_payment_method_types=None,
        application=None,
        cancellation_reason=None,
        description=None,
    )
    si["client_secret"] = f"{si['id']}_secret_sim"
    state.insert(si)
    state.emit("setup_intent.created", si)
    if pm is not None:
        pm["_authenticated"] = True
        state.emit("setup_intent.succeeded", si)
    return si
