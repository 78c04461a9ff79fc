"""Meter events leave without waiting for the request budget: Stripe limits them apart from the
rest of the API (the usage sender paces them itself)."""

from __future__ import annotations

from typing import Any

import pytest
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from paywire.stripe.client import StripeAdapter


class Counting:
    def __init__(self) -> None:
        self.acquired = 0
        self.limited = 0

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0

    def rate_limited(self, retry_after: float | None = None) -> None:
        self.limited += 1


@pytest.mark.parametrize(
    ("url", "draws"),
    [
        ("https://api.stripe.com/v1/billing/meter_events", 0),
        ("https://meter-events.stripe.com/v2/billing/meter_event_stream", 0),
        ("https://api.stripe.com/v2/billing/meter_event_session", 1),
        ("https://api.stripe.com/v1/billing/meter_event_adjustments", 1),
        ("https://api.stripe.com/v1/customers", 1),
        ("https://api.stripe.com/v1/customers?email=a%40example.com", 1),
    ],
)
def test_only_meter_events_skip_the_budget(monkeypatch: pytest.MonkeyPatch, url: str, draws: int) -> None:
    status = [200]

    def answered(self: Any, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        response = Response()
        response.status_code = status[0]
        return response

    monkeypatch.setattr(HTTPAdapter, "send", answered)
    budget = Counting()
    request = PreparedRequest()
    request.prepare(method="POST", url=url)
    StripeAdapter(budget, None).send(request)  # type: ignore[arg-type]
    assert (budget.acquired, budget.limited) == (draws, 0)

    # Stripe's 429 slows the budget down only for requests that draw on it: a meter event's
    # limit is the usage sender's to keep.
    status[0] = 429
    StripeAdapter(budget, None).send(request)  # type: ignore[arg-type]
    assert (budget.acquired, budget.limited) == (2 * draws, draws)
