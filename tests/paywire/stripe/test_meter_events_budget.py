"""Meter events leave without waiting for the request budget: Stripe limits them apart from the
rest of the API (the usage sender paces them itself)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from paywire.stripe.client import BudgetedRequestsClient


class Counting:
    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self) -> None:
        self.acquired += 1

    def rate_limited(self, retry_after: float | None = None) -> None:
        raise AssertionError("no 429 here")


@pytest.mark.parametrize(
    ("url", "draws"),
    [
        ("https://api.stripe.com/v1/billing/meter_events", 0),
        ("https://meter-events.stripe.com/v2/billing/meter_event_stream", 0),
        ("https://api.stripe.com/v2/billing/meter_event_session", 1),
        ("https://api.stripe.com/v1/billing/meter_event_adjustments", 1),
        ("https://api.stripe.com/v1/customers", 1),
    ],
)
def test_only_meter_events_skip_the_budget(monkeypatch: pytest.MonkeyPatch, url: str, draws: int) -> None:
    def answered(
        self: Any, method: str, url: str, headers: Any, post_data: Any = None
    ) -> tuple[bytes, int, dict[str, str]]:
        return b"{}", 200, {}

    monkeypatch.setattr(stripe.RequestsClient, "request", answered)
    budget = Counting()
    client = BudgetedRequestsClient(budget, timeout=5)  # type: ignore[arg-type]
    client.request("post", url, {})
    assert budget.acquired == draws
