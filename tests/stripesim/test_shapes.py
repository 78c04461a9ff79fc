"""Every object type and event type stripesim returns has the shape of the pinned API.

The judge is the shape reference generated from stripe-node 23.1.0's types
(`src/stripesim/shapes/reference.json`; `python tools/gen_shape_reference.py` regenerates it),
not Stripe's older example objects. See shape_check.py for the rules: a missing or extra field,
a wrong type, `null` where the field is absent (or the reverse) and an enum value outside the
pinned set all fail. Objects are obtained as a user would: through the SDK, reading the raw JSON
of each response, from real flows.

- `test_shape[...]`: one scenario per object type stripesim serves, each must produce objects of
  its type (so a type cannot silently drop out); every id-or-object field it holds is expanded
  and the expanded form checked too;
- `test_every_object_and_event_type`: drives the billing flows paywire uses and checks every
  object found in `/v1/events` and in the list endpoints, every event among them, and that
  together they cover every object type of the reference and every event type stripesim sends.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from stripesim.shapes import reference
from tests.stripesim.shape_check import check_object, expandable_fields, object_key
from tests.stripesim.shape_scenarios_billing import BILLING_SCENARIOS, FLOW_EVENT_SCENARIOS
from tests.stripesim.shape_scenarios_connect import CONNECT_SCENARIOS, connected_events, v1_connected_account
from tests.support.stripesim import TEST_KEY, Sim

SOURCE = Path(__file__).resolve().parents[2] / "src" / "stripesim"
Json = dict[str, Any]

# Where an object of each type is retrieved, to see its expandable fields expanded.
RETRIEVE = {
    "customer": "/v1/customers/",
    "subscription": "/v1/subscriptions/",
    "subscription_item": "/v1/subscription_items/",
    "subscription_schedule": "/v1/subscription_schedules/",
    "invoice": "/v1/invoices/",
    "invoiceitem": "/v1/invoiceitems/",
    "invoice_payment": "/v1/invoice_payments/",
    "payment_intent": "/v1/payment_intents/",
    "payment_method": "/v1/payment_methods/",
    "setup_intent": "/v1/setup_intents/",
    "charge": "/v1/charges/",
    "refund": "/v1/refunds/",
    "dispute": "/v1/disputes/",
    "file": "/v1/files/",
    "checkout.session": "/v1/checkout/sessions/",
    "price": "/v1/prices/",
    "product": "/v1/products/",
    "promotion_code": "/v1/promotion_codes/",
    "billing_portal.configuration": "/v1/billing_portal/configurations/",
    "transfer": "/v1/transfers/",
}


def raw(obj: stripe.StripeObject) -> Json:
    """The exact JSON stripesim sent for an SDK call's result."""
    response = obj.last_response
    assert response is not None
    return json.loads(response.body)


def expanded_forms(sim: Sim, objects: list[Json]) -> list[Json]:
    """Each retrievable object again, with every id-or-object field it holds expanded."""
    out = []
    for obj in objects:
        path = RETRIEVE.get(object_key(obj))
        if path is None or not obj.get("id") or obj.get("deleted") or str(obj["id"]).startswith("upcoming_"):
            continue  # (a preview has no id to retrieve it by)
        url = f"{sim.url}{path}{obj['id']}"
        auth = {"authorization": f"Bearer {TEST_KEY}"}
        fields = expandable_fields(httpx.get(url, headers=auth, trust_env=False, timeout=30).json())
        if not fields:
            continue
        response = httpx.get(url, params=[("expand[]", f) for f in fields], headers=auth, trust_env=False, timeout=30)
        assert response.status_code == 200, f"expanding {fields} of {obj['id']}: {response.text}"
        body = response.json()
        unexpanded = [f for f in fields if not isinstance(body.get(f), dict)]
        assert not unexpanded, f"{obj['id']}: {unexpanded} not expanded"
        out.append(body)
    return out


def problems_of(objects: list[Json]) -> list[str]:
    problems: list[str] = []
    for obj in objects:
        problems += check_object(obj)
    return problems


def _account(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    """The platform, and connected accounts as v1 shows them."""
    account = c.v1.accounts.retrieve_current()
    return [raw(account), raw(c.v1.accounts.retrieve(account.id)), *v1_connected_account(c, sim)]


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


def _meter_event_adjustment(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    m = _new_meter(c)
    cus = c.v1.customers.create()
    identifier = uuid.uuid4().hex
    c.v1.billing.meter_events.create(
        params={
            "event_name": m.event_name,
            "payload": {"stripe_customer_id": cus.id, "value": "3"},
            "identifier": identifier,
        }
    )
    return [
        raw(
            c.v1.billing.meter_event_adjustments.create(
                params={"event_name": m.event_name, "type": "cancel", "cancel": {"identifier": identifier}}
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


def _v2_client(sim: Sim) -> stripe.StripeClient:
    return stripe.StripeClient(TEST_KEY, base_addresses={"api": sim.url, "meter_events": sim.url})


def _meter_event_session(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    return [raw(_v2_client(sim).v2.billing.meter_event_session.create())]


def _thin_event(c: stripe.StripeClient, sim: Sim) -> list[Json]:
    """Both thin event types: a meter's refused events and an event name no meter takes."""
    m = _new_meter(c)
    v2 = _v2_client(sim)
    session = v2.v2.billing.meter_event_session.create()
    v2.v2.billing.meter_event_stream.create(
        params={
            "events": [
                {"event_name": m.event_name, "payload": {"stripe_customer_id": "cus_missing", "value": "1"}},
                {"event_name": m.event_name, "payload": {"value": "1"}, "identifier": "shape-no-customer"},
                {"event_name": f"shape_none_{uuid.uuid4().hex}", "payload": {"value": "1"}},
            ]
        },
        options={"api_key": session.authentication_token},
    )
    listed = raw(v2.v2.core.events.list(params={"limit": 10}))["data"]
    return [*listed, raw(v2.v2.core.events.retrieve(listed[0]["id"]))]


SCENARIOS: list[tuple[str, Callable[[stripe.StripeClient, Sim], list[Json]]]] = [
    ("account", _account),
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
    ("billing.meter_event_adjustment", _meter_event_adjustment),
    ("billing.meter_event_summary", _meter_event_summary),
    ("v2.billing.meter_event_session", _meter_event_session),
    ("v2.core.event", _thin_event),
    ("webhook_endpoint", _webhook_endpoint),
    ("deleted_webhook_endpoint", _deleted_webhook_endpoint),
    ("test_helpers.test_clock", _test_clock),
    ("deleted_test_helpers.test_clock", _deleted_test_clock),
    ("event", _event),
]
ALL_SCENARIOS = SCENARIOS + BILLING_SCENARIOS + CONNECT_SCENARIOS


def test_scenarios_cover_every_object_type_of_the_reference() -> None:
    assert sorted(t for t, _ in ALL_SCENARIOS) == sorted(reference.load().objects)


@pytest.mark.parametrize(("object_type", "scenario"), ALL_SCENARIOS, ids=[t for t, _ in ALL_SCENARIOS])
def test_shape(object_type: str, scenario: Callable[[stripe.StripeClient, Sim], list[Json]], sim: Sim) -> None:
    objects = scenario(sim.client(), sim)
    assert objects and all(object_key(o) == object_type for o in objects), (
        f"scenario for {object_type} produced {[object_key(o) for o in objects]}"
    )
    problems = problems_of(objects + expanded_forms(sim, objects))
    assert not problems, "\n".join(problems)


def events_stripesim_sends() -> set[str]:
    """Every event type named in stripesim's source (an `emit(…)` or `changing(…)` with its name).

    The `<type>.updated` that `State.changing` derives from an object's type is not named in the
    source: State sends it only when it is a pinned type, and refuses to emit any other."""
    named: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        named |= set(re.findall(r"(?:emit|changing)\([^()]*?\"([a-z_]+(?:\.[a-z_]+)+)\"", text, re.S))
    return named


def test_stripesim_names_only_pinned_event_types() -> None:
    pinned = set(reference.load().events)
    named = events_stripesim_sends()
    assert len(named) > 40, sorted(named)
    assert not named - pinned, f"not event types of the pinned API: {sorted(named - pinned)}"


def test_stripesim_makes_only_pinned_thin_event_types() -> None:
    made = set(re.findall(r"\"(v1\.billing\.meter\.[a-z_]+)\"", (SOURCE / "billing" / "meters.py").read_text()))
    assert made == set(reference.load().v2_events), made


def test_every_object_and_event_type(sim: Sim) -> None:
    c = sim.client()
    objects: list[Json] = []
    for _, scenario in ALL_SCENARIOS:
        objects += scenario(c, sim)
    for scenario in FLOW_EVENT_SCENARIOS:
        scenario(c, sim)
    params: dict[str, Any] = {"limit": 100}
    events: list[Json] = []
    while True:
        page = raw(c.v1.events.list(params=params))  # type: ignore[arg-type]
        events += page["data"]
        if not page["has_more"]:
            break
        params["starting_after"] = page["data"][-1]["id"]
    events += connected_events(c)
    objects += events
    seen_objects = {object_key(o) for o in objects} | {object_key(e["data"]["object"]) for e in events}
    assert seen_objects >= set(reference.load().objects), sorted(set(reference.load().objects) - seen_objects)
    seen_events = {e["type"] for e in events}
    unseen = events_stripesim_sends() - seen_events
    assert not unseen, f"event types stripesim sends that no flow produced: {sorted(unseen)}"
    problems = problems_of(objects)
    print(f"shape-checked {len(objects)} objects, {len(events)} events of {len(seen_events)} types")
    assert not problems, "\n".join(sorted(set(problems)))
