"""Stripe at the adapter boundary, for the handlers' tests: it holds what a fixture says Stripe
holds, answers the two questions handlers ask the gateway, and counts them."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from typing import Any

from paywire.stripe import Kind, StripeNotFound, StripeUnavailable
from tests.paywire.events.handlers.fake_connect import FakeConnect


class FakeStripe:
    """`retrieve` and `list_refunds_of_payment` of `paywire.stripe.StripeGateway`, from a
    fixture's `stripe` part (`{Kind value: {id: object}, "refunds": [...]}`). An id it does not
    hold answers 404, as Stripe does for an object deleted or from another account. Every
    answer is a copy, so a handler cannot change what the next read sees."""

    def __init__(self, held: dict[str, Any] | None = None) -> None:
        self.objects: dict[tuple[Kind, str], dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.calls: Counter[tuple[str, str]] = Counter()
        self.down: set[str] = set()  # ids whose reads fail as an outage would
        self.connect = FakeConnect(self.calls)  # `gateway.connect` (fake_connect)
        self.invoices_paid: dict[str, str] = {}  # payment intent -> the invoice it paid
        self.payments = FakePayments(self)  # `gateway.payments`
        self.hold(held or {})

    def hold(self, held: dict[str, Any]) -> None:
        """Add what another fixture's `stripe` part holds."""
        for kind, found in held.items():
            if kind == "refunds":
                self.refunds.extend(copy.deepcopy(found))
            else:
                for object_id, obj in found.items():
                    self.objects[(Kind(kind), object_id)] = copy.deepcopy(obj)

    def forget(self, kind: Kind, object_id: str) -> None:
        """Stripe answers 404 for it from now on."""
        del self.objects[(kind, object_id)]

    def change(self, kind: Kind, object_id: str, **fields: Any) -> dict[str, Any]:
        """Stripe's copy changed since the event (fields set on it); the new copy."""
        self.objects[(kind, object_id)].update(fields)
        return copy.deepcopy(self.objects[(kind, object_id)])

    @property
    def reads(self) -> int:
        return sum(self.calls.values())

    def retrieve(self, kind: Kind, object_id: str) -> dict[str, Any]:
        self.calls[(kind.value, object_id)] += 1
        if object_id in self.down:
            raise StripeUnavailable("Stripe answered 503 (faked)")
        found = self.objects.get((kind, object_id))
        if found is None:
            raise StripeNotFound(f"No such {kind.value}: '{object_id}'", param="id", code="resource_missing")
        return copy.deepcopy(found)

    def list_invoice_payments(self, invoice_id: str, *, expand: Sequence[str] = ()) -> list[dict[str, Any]]:
        self.calls[("invoice_payments", invoice_id)] += 1
        return []

    def list_refunds_of_payment(self, payment_intent_id: str) -> list[dict[str, Any]]:
        self.calls[("refunds", payment_intent_id)] += 1
        return [copy.deepcopy(r) for r in self.refunds if r.get("payment_intent") == payment_intent_id]


class FakePayments:
    """`gateway.payments`: a charge's refunds (from the fixture's `refunds`), the invoice a
    payment intent paid (`FakeStripe.invoices_paid`; none by default: a purchase's)."""

    def __init__(self, stripe: FakeStripe) -> None:
        self.stripe = stripe

    def refunds_of_charge(self, charge_id: str) -> list[dict[str, Any]]:
        self.stripe.calls[("refunds_of_charge", charge_id)] += 1
        return [copy.deepcopy(r) for r in self.stripe.refunds if r.get("charge") == charge_id]

    def invoice_paid_by(self, payment_intent_id: str) -> str | None:
        self.stripe.calls[("invoice_paid_by", payment_intent_id)] += 1
        return self.stripe.invoices_paid.get(payment_intent_id)
