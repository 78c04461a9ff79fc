"""A stripesim server in its own process, driven over HTTP as any client would."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import stripe

from tests.support.processes import Process

TEST_KEY = "sk_test_paywire_test_suite_key"
# A key of the live shape for refusal tests; built in two parts so that no live-looking secret
# stands in the source (secret scanners would flag it, and it is no key at all).
LIVE_SHAPED_KEY = "sk_" + "live_not_a_real_key"


@dataclass
class Sim:
    url: str
    process: Process

    def control(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        r = httpx.post(f"{self.url}/_sim/{path}", json=payload or {}, timeout=30, trust_env=False)
        r.raise_for_status()
        return r.json()

    def get(self, path: str) -> Any:
        r = httpx.get(f"{self.url}/_sim/{path}", timeout=30, trust_env=False)
        r.raise_for_status()
        return r.json()

    def reset(self) -> None:
        self.control("reset")

    def client(self, **options: Any) -> stripe.StripeClient:
        options.setdefault("max_network_retries", 0)
        # File uploads go to Stripe's `files` address: stripesim serves them on its one address.
        return stripe.StripeClient(TEST_KEY, base_addresses={"api": self.url, "files": self.url}, **options)

    def complete_checkout(self, session_id: str, card: str = "4242424242424242") -> Any:
        r = httpx.post(
            f"{self.url}/_sim/checkout/sessions/{session_id}/complete",
            data={"card": card},
            timeout=30,
            trust_env=False,
        )
        return r

    def advance(self, client: stripe.StripeClient, clock_id: str, frozen_time: int, timeout: float = 60) -> None:
        """Advance a test clock and wait until it is ready again."""
        client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": frozen_time})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "ready":
                return
            time.sleep(0.05)
        raise TimeoutError(f"test clock {clock_id} still advancing after {timeout}s")
