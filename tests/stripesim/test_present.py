"""List pages read from the cursor on (stripesim.present.list_page) show what the whole filtered
list would: walked forwards with starting_after and backwards with ending_before, page by page,
they give every record the filters keep, newest first, and nothing else; a cursor not in the
list is refused as Stripe does; deleted records are never shown. In process: no server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stripesim.app import Simulator
from stripesim.billing.cancellation import ENDED
from stripesim.billing.invoice_drafts import subscription_of
from stripesim.state import Record

KEY = "sk_test_stripesim_pages_test_key"
T0 = 1_893_456_000
Oracle = Callable[[Record], bool]


class World:
    def __init__(self) -> None:
        self.sim = Simulator()
        self.sim.state.config.upcoming_invoice_days = 0
        self.names: dict[str, str] = {}

    def __call__(self, method: str, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        status, body, _ = self.sim.call(KEY, method, path, params)
        return status, body

    def ok(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        status, body = self(method, path, params)
        assert status == 200, body
        return body

    def all(self, object_type: str, keep: Oracle) -> list[str]:
        """The whole filtered list, newest first, from the records themselves."""
        return [r["id"] for r in self.sim.state.all(object_type) if keep(r)]


@pytest.fixture(scope="module")
def world() -> World:
    """Customers (some on a test clock, one deleted), subscriptions of two prices in several
    statuses (trialing, active, canceled), their invoices and a deleted draft; `created`
    spread out so range filters pick some."""
    w = World()
    product = w.ok("POST", "/v1/products", {"name": "Plan"})["id"]
    prices = [
        w.ok(
            "POST",
            "/v1/prices",
            {"product": product, "currency": "usd", "unit_amount": amount, "recurring[interval]": "month"},
        )["id"]
        for amount in (900, 1900)
    ]
    clock = w.ok("POST", "/v1/test_helpers/test_clocks", {"frozen_time": T0})["id"]
    w.names.update(price=prices[1], clock=clock)
    for n in range(24):
        params = {"email": f"user{n % 5}@example.com"}
        if n % 3 == 0:
            params["test_clock"] = clock
        customer = w.ok("POST", "/v1/customers", params)["id"]
        sub_params: dict[str, Any] = {"customer": customer, "items[0][price]": prices[n % 2]}
        if n % 4 == 0:
            pm = w.ok("POST", "/v1/payment_methods", {"type": "card", "card[token]": "tok_visa"})["id"]
            w.ok("POST", f"/v1/payment_methods/{pm}/attach", {"customer": customer})
            sub_params["default_payment_method"] = pm
        else:
            sub_params["trial_period_days"] = 30
        sub = w.ok("POST", "/v1/subscriptions", sub_params)["id"]
        if n % 5 == 1:
            w.ok("DELETE", f"/v1/subscriptions/{sub}")
        if n == 7:
            w.ok("POST", "/v1/invoices", {"customer": customer})
            w.names.update(customer=customer, subscription=sub)
        if n == 10:
            draft = w.ok("POST", "/v1/invoices", {"customer": customer})["id"]
            w.ok("DELETE", f"/v1/invoices/{draft}")
            w.names["deleted_invoice"] = draft
        if n == 13:
            w.ok("DELETE", f"/v1/customers/{customer}")
            w.names["deleted_customer"] = customer
    for i, record in enumerate(w.sim.state.objects.values()):
        record["created"] = T0 + i * 10
    return w


def walk_forwards(w: World, path: str, params: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    page = w.ok("GET", path, {**params, "limit": 3})
    seen += [r["id"] for r in page["data"]]
    while page["has_more"]:
        page = w.ok("GET", path, {**params, "limit": 3, "starting_after": seen[-1]})
        seen += [r["id"] for r in page["data"]]
    return seen


def walk_backwards(w: World, path: str, params: dict[str, Any], oldest: str) -> list[str]:
    seen = [oldest]
    while True:
        page = w.ok("GET", path, {**params, "limit": 3, "ending_before": seen[0]})
        seen = [r["id"] for r in page["data"]] + seen
        if not page["has_more"]:
            return seen


CASES: list[tuple[str, str, dict[str, Any], Callable[[World], Oracle]]] = [
    ("customers", "customer", {}, lambda w: lambda r: True),
    ("customers", "customer", {"email": "user2@example.com"}, lambda w: lambda r: r["email"] == "user2@example.com"),
    ("customers", "customer", {"test_clock": "{clock}"}, lambda w: lambda r: r["test_clock"] == w.names["clock"]),
    ("customers", "customer", {"created[gt]": T0 + 200}, lambda w: lambda r: r["created"] > T0 + 200),
    ("subscriptions", "subscription", {}, lambda w: lambda r: r["status"] != "canceled"),
    ("subscriptions", "subscription", {"status": "all"}, lambda w: lambda r: True),
    ("subscriptions", "subscription", {"status": "canceled"}, lambda w: lambda r: r["status"] == "canceled"),
    ("subscriptions", "subscription", {"status": "ended"}, lambda w: lambda r: r["status"] in ENDED),
    ("subscriptions", "subscription", {"status": "active"}, lambda w: lambda r: r["status"] == "active"),
    (
        "subscriptions",
        "subscription",
        {"status": "all", "price": "{price}"},
        lambda w: lambda r: r["items"]["data"][0]["price"]["id"] == w.names["price"],
    ),
    (
        "subscriptions",
        "subscription",
        {"test_clock": "{clock}", "created[lte]": T0 + 900},
        lambda w: (
            lambda r: r["status"] != "canceled" and r["test_clock"] == w.names["clock"] and r["created"] <= T0 + 900
        ),
    ),
    ("invoices", "invoice", {}, lambda w: lambda r: True),
    ("events", "event", {"type": "customer.subscription.*"}, lambda w: lambda r: r["type"].startswith("customer.subs")),
    ("events", "event", {"type": "invoice.created"}, lambda w: lambda r: r["type"] == "invoice.created"),
    # A recovery scan's windows (found through the `created` index, not a pass over the events).
    (
        "events",
        "event",
        {"created[gte]": T0 + 200, "created[lt]": T0 + 900},
        lambda w: lambda r: T0 + 200 <= r["created"] < T0 + 900,
    ),
    (
        "events",
        "event",
        {"created[gt]": T0, "created[lte]": T0 + 900, "type": "invoice.created"},
        lambda w: lambda r: T0 < r["created"] <= T0 + 900 and r["type"] == "invoice.created",
    ),
    ("payment_methods", "payment_method", {"type": "card"}, lambda w: lambda r: r["type"] == "card"),
    ("invoices", "invoice", {"status": "paid"}, lambda w: lambda r: r["status"] == "paid"),
    ("invoices", "invoice", {"customer": "{customer}"}, lambda w: lambda r: r["customer"] == w.names["customer"]),
    (
        "invoices",
        "invoice",
        {"subscription": "{subscription}"},
        lambda w: lambda r: subscription_of(r) == w.names["subscription"],
    ),
]


@pytest.mark.parametrize(("path", "object_type", "params", "oracle"), CASES)
def test_pages_walked_either_way_are_the_filtered_list(
    world: World, path: str, object_type: str, params: dict[str, Any], oracle: Callable[[World], Oracle]
) -> None:
    params = {k: v.format(**world.names) if isinstance(v, str) else v for k, v in params.items()}
    keep = oracle(world)
    # The oracle reads records as the API shows them (a subscription's items and prices).
    expected = world.all(object_type, lambda r: keep(world.sim.state.render(r)))
    assert expected, "each case should list something"
    assert walk_forwards(world, f"/v1/{path}", params) == expected
    assert walk_backwards(world, f"/v1/{path}", params, expected[-1]) == expected


def test_a_page_says_whether_more_follow(world: World) -> None:
    every_id = world.all("customer", lambda r: True)
    whole = world.ok("GET", "/v1/customers", {"limit": len(every_id)})
    assert [r["id"] for r in whole["data"]] == every_id and not whole["has_more"]
    short = world.ok("GET", "/v1/customers", {"limit": len(every_id) - 1})
    assert short["has_more"]
    last = world.ok("GET", "/v1/customers", {"starting_after": every_id[-2]})
    assert [r["id"] for r in last["data"]] == every_id[-1:] and not last["has_more"]
    first = world.ok("GET", "/v1/customers", {"ending_before": every_id[1]})
    assert [r["id"] for r in first["data"]] == every_id[:1] and not first["has_more"]


@pytest.mark.parametrize("cursor", ["starting_after", "ending_before"])
@pytest.mark.parametrize(
    ("path", "params", "object_id"),
    [
        ("customers", {}, "cus_unknown"),
        ("customers", {}, "{deleted_customer}"),  # deleted: not in the list
        ("customers", {}, "{subscription}"),  # another type
        ("customers", {"email": "user0@example.com"}, "{customer}"),  # filtered out (user2)
        ("subscriptions", {"status": "active"}, "{subscription}"),  # trialing
        ("invoices", {}, "{deleted_invoice}"),
    ],
)
def test_a_cursor_not_in_the_list_is_refused(
    world: World, cursor: str, path: str, params: dict[str, Any], object_id: str
) -> None:
    object_id = object_id.format(**world.names)
    status, body = world("GET", f"/v1/{path}", {**params, cursor: object_id})
    assert status == 400
    assert body["error"]["param"] == cursor
    assert body["error"]["message"] == f"Invalid {cursor}: no object with id {object_id} in this list"


def test_both_cursors_are_refused(world: World) -> None:
    ids = world.all("customer", lambda r: True)
    status, body = world("GET", "/v1/customers", {"starting_after": ids[0], "ending_before": ids[2]})
    assert status == 400 and body["error"]["param"] == "ending_before"


def test_deleted_records_are_never_listed(world: World) -> None:
    customers = walk_forwards(world, "/v1/customers", {})
    invoices = walk_forwards(world, "/v1/invoices", {})
    assert world.names["deleted_customer"] not in customers
    assert world.names["deleted_invoice"] not in invoices
    assert world.sim.state.objects[world.names["deleted_customer"]]["deleted"]
