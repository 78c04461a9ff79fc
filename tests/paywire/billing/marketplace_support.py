"""A marketplace on the running service, driven as its users and Stripe would: sellers onboard
(stripesim's `POST /_sim/accounts/{id}/onboard`, which does what its hosted page does), buyers pay
on Checkout (stripesim's completion, with a test card), Stripe pays out. Every wait is for a
condition (the mirror, through the API), with the suite's deadline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.paywire.conftest import Service
from tests.paywire.events.conftest import wait_for
from tests.support.stripesim import Sim

PAID_CARD = "4242424242424242"
DISPUTED_CARD = "4000000000000259"  # pays, then the buyer's bank disputes it


@dataclass
class Market:
    service: Service
    sim: Sim

    def call(self, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> httpx.Response:
        with self.service.http() as http:
            return http.request(method, path, json=body, headers=self.service.headers_for(user, f"{user}@example.com"))

    def ok(self, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.call(method, path, user, body)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def report(self, user: str) -> dict[str, Any]:
        return self.ok("GET", "/api/seller", user)

    def state(self, user: str) -> str:
        return str(self.report(user)["status"]["state"])

    def become_seller(self, user: str) -> str:
        """The seller's connected account (onboarding not done)."""
        url = self.ok("POST", "/api/seller/onboarding", user)["url"]
        assert url.startswith(f"{self.sim.url}/connect/onboarding/"), url
        return str(self.report(user)["account"])

    def onboard(self, user: str, outcome: str = "enabled", **details: Any) -> str:
        """A seller through onboarding with `outcome`, once the mirror says so."""
        account = self.become_seller(user)
        self.sim.control(f"accounts/{account}/onboard", {"outcome": outcome, **details})
        wanted = {"enabled": "enabled", "requirements_due": "restricted", "disabled": "disabled"}[outcome]
        if details.get("deadline"):
            wanted = "action_required"
        wait_for(f"{user} {wanted}", lambda: self.state(user) == wanted)
        return account

    def buy(self, buyer: str, body: dict[str, Any], card: str = PAID_CARD) -> str:
        """A buyer's checkout, paid with `card`; its Checkout Session."""
        started = self.ok("POST", "/api/checkout", buyer, body)
        paid = self.sim.complete_checkout(started["id"], card)
        assert paid.status_code == 200, paid.text
        return str(started["id"])

    def wait_report(self, user: str, what: str, check: Any) -> dict[str, Any]:
        return wait_for(what, lambda: (lambda r: r if check(r) else None)(self.report(user)))
