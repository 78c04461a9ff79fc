"""Stripe's test cards and their documented outcomes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    # What happens when it is charged: "succeed", "decline", "authenticate_first",
    # "authenticate_always", "fail_after_attach"
    behaviour: str = "succeed"
    decline_code: str | None = None
    error_code: str = "card_declined"
    message: str = "Your card was declined."
    # What a refund of a payment by this card does: "succeed" at once, "pending" then succeed
    # (`refund.updated`), or "fail" after first showing succeeded (`refund.failed`).
    refund: str = "succeed"
    # The dispute the card's bank opens after a successful payment: "fraudulent",
    # "product_not_received" (chargebacks) or "inquiry" (no funds withdrawn, yet); None: none.
    dispute: str | None = None

    @property
    def last4(self) -> str:
        return self.number[-4:]


CARDS: dict[str, TestCard] = {
    c.number: c
    for c in [
        TestCard("4242424242424242", "visa"),
        TestCard("4000056655665556", "visa", funding="debit"),
        TestCard("5555555555554444", "mastercard"),
        TestCard("378282246310005", "amex"),
        TestCard("4000000000000002", "visa", behaviour="decline", decline_code="generic_decline"),
        TestCard(
            "4000000000009995",
            "visa",
            behaviour="decline",
            decline_code="insufficient_funds",
            message="Your card has insufficient funds.",
        ),
        TestCard(
            "4000000000009987",
            "visa",
            behaviour="decline",
            decline_code="lost_card",
            message="Your card was declined.",
        ),
        TestCard(
            "4000000000000069",
            "visa",
            behaviour="decline",
            decline_code="expired_card",
            error_code="expired_card",
            message="Your card has expired.",
        ),
        TestCard(
            "4000000000000127",
            "visa",
            behaviour="decline",
            decline_code="incorrect_cvc",
            error_code="incorrect_cvc",
            message="Your card's security code is incorrect.",
        ),
        TestCard(
            "4000000000000119",
            "visa",
            behaviour="decline",
            decline_code="processing_error",
            error_code="processing_error",
            message="An error occurred while processing your card. Try again in a little bit.",
        ),
        TestCard("4000002500003155", "visa", behaviour="authenticate_first"),
        TestCard("4000002760003184", "visa", behaviour="authenticate_always"),
        TestCard("4000000000003220", "visa", behaviour="authenticate_always"),
        TestCard(
            "4000000000000341",
            "visa",
            behaviour="fail_after_attach",
            decline_code="generic_decline",
        ),
        TestCard("4000000000000259", "visa", dispute="fraudulent"),
        TestCard("4000000000002685", "visa", dispute="product_not_received"),
        TestCard("4000000000001976", "visa", dispute="inquiry"),
        TestCard("4000000000007726", "visa", refund="pending"),
        TestCard("4000000000005126", "visa", refund="fail"),
    ]
}

# PaymentMethod ids Stripe accepts in test mode in place of a real one.
TEST_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_authenticationRequired": "4000002500003155",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_createDisputeProductNotReceived": "4000000000002685",
    "pm_card_createDisputeInquiry": "4000000000001976",
    "pm_card_pendingRefund": "4000000000007726",
    "pm_card_refundFail": "4000000000005126",
}

TEST_TOKENS: dict[str, str] = {
    "tok_visa": "4242424242424242",
    "tok_mastercard": "5555555555554444",
    "tok_amex": "378282246310005",
    "tok_chargeDeclined": "4000000000000002",
    "tok_chargeDeclinedInsufficientFunds": "4000000000009995",
    "tok_chargeDeclinedExpiredCard": "4000000000000069",
    "tok_chargeDeclinedIncorrectCvc": "4000000000000127",
    "tok_chargeDeclinedProcessingError": "4000000000000119",
    "tok_chargeDeclinedLostCard": "4000000000009987",
    "tok_authenticationRequired": "4000002500003155",
    "tok_chargeCustomerFail": "4000000000000341",
    "tok_createDispute": "4000000000000259",
    "tok_createDisputeProductNotReceived": "4000000000002685",
    "tok_createDisputeInquiry": "4000000000001976",
    "tok_pendingRefund": "4000000000007726",
    "tok_refundFail": "4000000000005126",
    "tok_threeDSecure2Required": "4000000000003220",
}


def card_for(number: str) -> TestCard | None:
    """A test card by number; any other Luhn-valid number behaves like 4242."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits in CARDS:
        return CARDS[digits]
    if 12 <= len(digits) <= 19 and luhn_ok(digits):
        brand = {"4": "visa", "5": "mastercard", "3": "amex"}.get(digits[0], "unknown")
        return TestCard(digits, brand)
    return None


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
