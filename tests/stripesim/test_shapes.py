"""Every object type stripesim returns has the shape of the pinned API.

Each object is compared with Stripe's example object of its type in
`../shared/stripe/fixtures3.json` (relative to the repo root) and with the SDK's type
hints; see shape_check.py for the rules. Objects are obtained as a user would: through the
SDK, reading the raw JSON of each response.

Two tests:
- `test_shape[...]`: one scenario per type stripesim simulates today, each must produce
  objects of its type (so a type cannot silently drop out);
- `test_every_object_seen_has_the_fixture_shape`: drives the wider billing flows (payment
  methods, subscriptions, checkout, invoices, …) and checks every object found in
  `/v1/events` and in the list endpoints, whatever its type — so billing types are covered
  as soon as their routes exist. Flows whose routes stripesim does not have yet (404
  "Unrecognized request URL") are noted, not failed; any other error fails.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.stripesim.shape_check import compare, fixture_key, sdk_class
from tests.stripesim.shape_scenarios_billing import BILLING_SCENARIOS
from tests.support.stripesim import Sim

FIXTURE = Path(__file__).resolve().parents[2].parent / "shared" / "stripe" / "fixtures3.json"

Json = dict[str, Any]


@pytest.fixture(scope="module")
def fixture_resources() -> dict[str, Json]:
    if not FIXTURE.exists():
        pytest.fail(
            f"Stripe's fixture is missing: expected {FIXTURE} (shared/stripe/fixtures3.json "
            "beside the repository). The shape test cannot run without it.",
            pytrace=False,
        )
    return json.loads(FIXTURE.read_text())["resources"]


def raw(obj: stripe.StripeObject) -> Json:
    """The exact JSON stripesim sent for an SDK call's result."""
    response = obj.last_response
    assert response is not None
    return json.loads(response.body)


def check(objects: list[Json], resources: dict[str, Json]) -> list[str]:
    problems = []
    for obj in objects:
        key = fixture_key(obj)
        if key not in resources:
            problems.append(f"{key} ({obj.get('id')}): no example object of this type in the fixture")
            continue
        problems += compare(obj, resources[key], sdk_class(obj["object"]), f"{key}({obj.get('id')})")
    return problems


# ----- scenarios, one per simulated type --------------------------------------------------
def _customer(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    return [
        raw(c.v1.customers.create(params={"email": "s@example.com", "metadata": {"a": "b"}})),
        raw(
            c.v1.customers.create(
                params={
                    "name": "Full",
                    "address": {"line1": "1 Main St", "country": "US"},
                    "phone": "+15555550100",
                    "description": "d",
                    "test_clock": clock.id,
                    "preferred_locales": ["en"],
                }
            )
        ),
    ]


def _deleted_customer(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus = c.v1.customers.create()
    return [raw(c.v1.customers.delete(cus.id))]


def _product(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    p = c.v1.products.create(
        params={
            "name": "Pro",
            "default_price_data": {
                "currency": "usd",
                "unit_amount": 1000,
                "recurring": {"interval": "month"},
            },
            "marketing_features": [{"name": "Fast"}],
            "images": ["https://example.com/a.png"],
        }
    )
    return [raw(p), raw(c.v1.products.retrieve(p.id))]


def _deleted_product(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    p = c.v1.products.create(params={"name": "Gone"})
    return [raw(c.v1.products.delete(p.id))]


def _price(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    p = c.v1.products.create(params={"name": "Usage"})
    meter = c.v1.billing.meters.create(
        params={
            "display_name": "M",
            "event_name": f"shape_{uuid.uuid4().hex}",
            "default_aggregation": {"formula": "sum"},
        }
    )
    return [
        raw(c.v1.prices.create(params={"product": p.id, "currency": "usd", "unit_amount": 500})),
        raw(
            c.v1.prices.create(
                params={
                    "product": p.id,
                    "currency": "usd",
                    "unit_amount": 900,
                    "lookup_key": "pro_monthly",
                    "recurring": {"interval": "month", "trial_period_days": 7},
                    "nickname": "n",
                }
            )
        ),
        raw(
            c.v1.prices.create(
                params={
                    "product": p.id,
                    "currency": "usd",
                    "billing_scheme": "tiered",
                    "tiers_mode": "graduated",
                    "tiers": [
                        {"up_to": 10, "unit_amount": 100},
                        {"up_to": "inf", "unit_amount": 50},
                    ],
                    "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
                }
            )
        ),
    ]


def _coupon(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    return [
        raw(
            c.v1.coupons.create(
                params={
                    "percent_off": 10,
                    "duration": "repeating",
                    "duration_in_months": 2,
                    "name": "Ten",
                }
            )
        ),
        raw(
            c.v1.coupons.create(
                params={
                    "amount_off": 500,
                    "currency": "usd",
                    "redeem_by": int(time.time()) + 3600,
                    "max_redemptions": 3,
                }
            )
        ),
    ]


def _deleted_coupon(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    coupon = c.v1.coupons.create(params={"percent_off": 5})
    return [raw(c.v1.coupons.delete(coupon.id))]


def _promotion_code(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    coupon = c.v1.coupons.create(params={"percent_off": 5})
    cus = c.v1.customers.create()
    return [
        raw(c.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": coupon.id}})),
        raw(
            c.v1.promotion_codes.create(
                params={
                    "promotion": {"type": "coupon", "coupon": coupon.id},
                    "customer": cus.id,
                    "expires_at": int(time.time()) + 3600,
                    "max_redemptions": 2,
                    "restrictions": {
                        "first_time_transaction": True,
                        "minimum_amount": 100,
                        "minimum_amount_currency": "usd",
                    },
                }
            )
        ),
    ]


def _tax_rate(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    return [
        raw(
            c.v1.tax_rates.create(
                params={
                    "display_name": "VAT",
                    "percentage": 19,
                    "inclusive": False,
                    "country": "DE",
                    "tax_type": "vat",
                }
            )
        ),
        raw(c.v1.tax_rates.create(params={"display_name": "GST", "percentage": 5, "inclusive": True})),
    ]


def _new_meter(c: stripe.StripeClient) -> stripe.billing.Meter:
    return c.v1.billing.meters.create(
        params={
            "display_name": "Calls",
            "event_name": f"shape_{uuid.uuid4().hex}",
            "default_aggregation": {"formula": "sum"},
        }
    )


def _meter(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    m = _new_meter(c)
    return [raw(m), raw(c.v1.billing.meters.deactivate(m.id))]


def _meter_event(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    m = _new_meter(c)
    cus = c.v1.customers.create()
    return [
        raw(
            c.v1.billing.meter_events.create(
                params={
                    "event_name": m.event_name,
                    "payload": {"stripe_customer_id": cus.id, "value": "3"},
                    "identifier": uuid.uuid4().hex,
                }
            )
        )
    ]


def _meter_event_summary(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    m = _new_meter(c)
    cus = c.v1.customers.create()
    now = int(time.time())
    c.v1.billing.meter_events.create(
        params={
            "event_name": m.event_name,
            "payload": {"stripe_customer_id": cus.id, "value": "3"},
        }
    )
    page = c.v1.billing.meters.event_summaries.list(
        m.id,
        params={
            "customer": cus.id,
            "start_time": now - now % 3600,
            "end_time": now - now % 3600 + 3600,
        },
    )
    return raw(page)["data"]


def _webhook_endpoint(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    we = c.v1.webhook_endpoints.create(
        params={
            "url": "http://127.0.0.1:9/hook",
            "enabled_events": ["*"],
            "description": "d",
        }
    )
    return [raw(we), raw(c.v1.webhook_endpoints.retrieve(we.id))]


def _deleted_webhook_endpoint(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    we = c.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/h", "enabled_events": ["*"]})
    return [raw(c.v1.webhook_endpoints.delete(we.id))]


def _test_clock(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_767_225_600, "name": "c"})
    sim.advance(c, clock.id, 1_767_225_600 + 86400)
    return [raw(clock), raw(c.v1.test_helpers.test_clocks.retrieve(clock.id))]


def _deleted_test_clock(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    clock = c.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_767_225_600})
    return [raw(c.v1.test_helpers.test_clocks.delete(clock.id))]


def _event(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    cus = c.v1.customers.create()
    c.v1.customers.update(cus.id, params={"email": "new@example.com"})
    return raw(c.v1.events.list(params={"limit": 100}))["data"]


SCENARIOS: list[tuple[str, Callable[[stripe.StripeClient, Sim], list[Json]]]] = [
    ("customer", _customer),
    ("deleted_customer", _deleted_customer),
    ("product", _product),
    ("deleted_product", _deleted_product),
    ("price", _price),
    ("coupon", _coupon),
    ("deleted_coupon", _deleted_coupon),
    ("promotion_code", _promotion_code),
    ("tax_rate", _tax_rate),
    ("billing.meter", _meter),
    ("billing.meter_event", _meter_event),
    ("billing.meter_event_summary", _meter_event_summary),
    ("webhook_endpoint", _webhook_endpoint),
    ("deleted_webhook_endpoint", _deleted_webhook_endpoint),
    ("test_helpers.test_clock", _test_clock),
    ("deleted_test_helpers.test_clock", _deleted_test_clock),
    ("event", _event),
]
ALL_SCENARIOS = SCENARIOS + BILLING_SCENARIOS


@pytest.mark.parametrize(("object_type", "scenario"), ALL_SCENARIOS, ids=[t for t, _ in ALL_SCENARIOS])
def test_shape(
    object_type: str,
    scenario: Callable[[stripe.StripeClient, Sim], list[Json]],
    sim: Sim,
    stripe_client: stripe.StripeClient,
    fixture_resources: dict[str, Json],
) -> None:
    objects = scenario(stripe_client, sim)
    assert objects and all(fixture_key(o) == object_type for o in objects), (
        f"scenario for {object_type} produced {[fixture_key(o) for o in objects]}"
    )
    problems = check(objects, fixture_resources)
    assert not problems, "\n".join(problems)


# ----- everything seen, including the billing engine's types ------------------------------
class Flows:
    """Runs SDK flows, tolerating only routes stripesim does not have yet."""

    def __init__(self) -> None:
        self.missing_routes: list[str] = []
        self.objects: list[Json] = []

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except stripe.InvalidRequestError as err:
            if err.http_status == 404 and "Unrecognized request URL" in str(err.user_message):
                self.missing_routes.append(name)
                return None
            raise
        if isinstance(result, stripe.StripeObject) and result.last_response is not None:
            body = raw(result)
            self.objects += body["data"] if body.get("object") == "list" else [body]
        return result


def _billing_flows(c: stripe.StripeClient, sim: Sim, flows: Flows) -> None:
    for _, scenario in SCENARIOS:
        flows.objects += scenario(c, sim)
    product = c.v1.products.create(params={"name": "Plan"})
    price = c.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
        }
    )
    one_time = c.v1.prices.create(params={"product": product.id, "currency": "usd", "unit_amount": 700})
    coupon = c.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    rate = c.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 10, "inclusive": False})
    cus = c.v1.customers.create(params={"email": "flow@example.com"})
    pm = flows.run(
        "payment_methods.create",
        lambda: c.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}}),
    )
    if pm is not None:
        flows.run(
            "payment_methods.attach",
            lambda: c.v1.payment_methods.attach(pm.id, params={"customer": cus.id}),
        )
        flows.run(
            "customers.update",
            lambda: c.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": pm.id}}),
        )
    sub = flows.run(
        "subscriptions.create",
        lambda: c.v1.subscriptions.create(
            params={
                "customer": cus.id,
                "items": [{"price": price.id, "quantity": 2}],
                "discounts": [{"coupon": coupon.id}],
                "default_tax_rates": [rate.id],
                "expand": ["latest_invoice"],
            }
        ),
    )
    if sub is not None:
        flows.run(
            "subscriptions.update",
            lambda: c.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True}),
        )
        flows.run(
            "subscription_schedules.create",
            lambda: c.v1.subscription_schedules.create(params={"from_subscription": sub.id}),
        )
        flows.run(
            "invoices.create_preview",
            lambda: c.v1.invoices.create_preview(params={"subscription": sub.id}),
        )
    pi = flows.run(
        "payment_intents.create",
        lambda: c.v1.payment_intents.create(
            params={
                "amount": 1500,
                "currency": "usd",
                "customer": cus.id,
                "payment_method": pm.id if pm is not None else "pm_card_visa",
                "confirm": True,
                "off_session": True,
            }
        ),
    )
    if pi is not None:
        flows.run(
            "refunds.create",
            lambda: c.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500}),
        )
    session = flows.run(
        "checkout.sessions.create",
        lambda: c.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [{"price": one_time.id, "quantity": 1}],
                "success_url": "http://127.0.0.1/ok",
                "cancel_url": "http://127.0.0.1/no",
            }
        ),
    )
    if session is not None:
        sim.complete_checkout(session.id)
    flows.run(
        "billing_portal.sessions.create",
        lambda: c.v1.billing_portal.sessions.create(params={"customer": cus.id, "return_url": "http://127.0.0.1/back"}),
    )
    for name, lister in [
        ("customers", lambda: c.v1.customers.list(params={"limit": 100})),
        ("subscriptions", lambda: c.v1.subscriptions.list(params={"limit": 100, "status": "all"})),
        ("invoices", lambda: c.v1.invoices.list(params={"limit": 100})),
        ("invoice_payments", lambda: c.v1.invoice_payments.list(params={"limit": 100})),
        ("payment_intents", lambda: c.v1.payment_intents.list(params={"limit": 100})),
        ("charges", lambda: c.v1.charges.list(params={"limit": 100})),
        ("refunds", lambda: c.v1.refunds.list(params={"limit": 100})),
        ("disputes", lambda: c.v1.disputes.list(params={"limit": 100})),
        ("checkout.sessions", lambda: c.v1.checkout.sessions.list(params={"limit": 100})),
        ("subscription_schedules", lambda: c.v1.subscription_schedules.list(params={"limit": 100})),
        (
            "billing_portal.configurations",
            lambda: c.v1.billing_portal.configurations.list(params={"limit": 100}),
        ),
        ("invoiceitems", lambda: c.v1.invoice_items.list(params={"limit": 100})),
        (
            "customer payment_methods",
            lambda: c.v1.customers.payment_methods.list(cus.id, params={"limit": 100}),
        ),
    ]:
        flows.run(f"{name}.list", lister)
    # Raw JSON of every event, page by page (the SDK's objects would turn decimals into
    # Decimal and hide the wire types).
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = raw(c.v1.events.list(params=params))  # type: ignore[arg-type]
        flows.objects += page["data"]
        if not page["has_more"]:
            break
        params["starting_after"] = page["data"][-1]["id"]
    for body in list(flows.objects):
        if body.get("object") == "event":
            flows.objects.append(body["data"]["object"])


def test_every_object_seen_has_the_fixture_shape(
    sim: Sim, stripe_client: stripe.StripeClient, fixture_resources: dict[str, Json]
) -> None:
    flows = Flows()
    _billing_flows(stripe_client, sim, flows)
    seen = {fixture_key(o) for o in flows.objects}
    # The harvest must at least find every type the per-type scenarios produce.
    assert {t for t, _ in SCENARIOS} <= seen, sorted({t for t, _ in SCENARIOS} - seen)
    problems = check(flows.objects, fixture_resources)
    print(f"shape-checked {len(flows.objects)} objects of {len(seen)} types: {sorted(seen)}")
    if flows.missing_routes:
        print("flows not simulated yet:", ", ".join(flows.missing_routes))
    assert not problems, "\n".join(sorted(set(problems)))
