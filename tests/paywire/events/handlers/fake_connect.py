"""Stripe Connect at the adapter boundary (`gateway.connect`), for the handlers' tests: it holds
what a fixture's `connect` part says Stripe holds (`{kind: {id: object}}`: `account` as Accounts
v2 shows it, `transfer`, `application_fee`, `payout`, `dispute`, and `balance` by account), answers
the reads Connect's handlers make, and keeps the transfers asked for."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from paywire.stripe import StripeNotFound


class FakeConnect:
    def __init__(self, calls: Counter[tuple[str, str]]) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls = calls
        self.transfers_made: list[dict[str, Any]] = []

    def hold(self, held: dict[str, Any]) -> None:
        for kind, found in held.items():
            for key, obj in found.items():
                self.objects[(kind, key)] = copy.deepcopy(obj)

    def held(self, kind: str) -> dict[str, Any]:
        """The one object of `kind` held (a copy)."""
        [found] = [obj for (k, _), obj in self.objects.items() if k == kind]
        return copy.deepcopy(found)

    def change(self, kind: str, key: str, **fields: Any) -> dict[str, Any]:
        self.objects[(kind, key)].update(fields)
        return copy.deepcopy(self.objects[(kind, key)])

    def forget(self, kind: str, key: str) -> None:
        del self.objects[(kind, key)]

    def _get(self, kind: str, key: str) -> dict[str, Any]:
        self.calls[(kind, key)] += 1
        found = self.objects.get((kind, key))
        if found is None:
            raise StripeNotFound(f"No such {kind}: '{key}'", param="id", code="resource_missing")
        return copy.deepcopy(found)

    def retrieve_account(self, account_id: str) -> dict[str, Any]:
        return self._get("account", account_id)

    def balance(self, account_id: str) -> dict[str, Any]:
        return self._get("balance", account_id)

    def retrieve_transfer(self, transfer_id: str) -> dict[str, Any]:
        return self._get("transfer", transfer_id)

    def retrieve_application_fee(self, fee_id: str) -> dict[str, Any]:
        return self._get("application_fee", fee_id)

    def retrieve_payout(self, account_id: str, payout_id: str) -> dict[str, Any]:
        return self._get("payout", payout_id)

    def create_transfer(self, **request: Any) -> dict[str, Any]:
        made = next((t for t in self.transfers_made if t["idempotency_key"] == request["idempotency_key"]), None)
        if made is None:
            made = {**request, "id": f"tr_fake_{len(self.transfers_made) + 1}"}
            self.transfers_made.append(made)
        return copy.deepcopy(made)
