"""The newest event about an object shows the object as it stands: every change to a
subscription or an invoice is announced by an event whose payload carries it, as Stripe's do.
paywire applies such payloads instead of re-reading (`paywire.mirror.payloads`), so a change
stripesim made silently after an object's last event would leave a mirror behind."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.stripesim.event_flows import FLOWS
from tests.support.stripesim import Sim

KINDS = ("subscription", "invoice")


def all_events(client: stripe.StripeClient) -> list[dict[str, Any]]:
    """Every event, oldest first, as delivered (plain JSON)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = client.v1.events.list(params=params)  # type: ignore[arg-type]
        found.extend(event.to_dict(recursive=True) for event in page.data)
        if not page.has_more:
            return list(reversed(found))
        params["starting_after"] = page.data[-1].id


def retrieve(client: stripe.StripeClient, kind: str, object_id: str) -> dict[str, Any]:
    resource = client.v1.subscriptions if kind == "subscription" else client.v1.invoices
    return resource.retrieve(object_id).to_dict(recursive=True)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_the_last_event_about_an_object_shows_it_as_it_stands(flow: str, sim: Sim) -> None:
    client = sim.client()
    FLOWS[flow](client, sim)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for event in all_events(client):
        shown = event["data"]["object"]
        if shown.get("object") in KINDS and event["type"] != "invoice.deleted":  # a draft as it went
            latest[(shown["object"], shown["id"])] = event
    differences = {}
    for (kind, object_id), event in latest.items():
        now = retrieve(client, kind, object_id)
        shown = event["data"]["object"]
        changed = sorted(key for key in set(now) | set(shown) if now.get(key) != shown.get(key))
        if changed:
            differences[f"{kind} {object_id} after {event['type']}"] = changed
    assert differences == {}
