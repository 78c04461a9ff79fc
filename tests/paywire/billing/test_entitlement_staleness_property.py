"""No entitlement check, in any process, answers what the mirror stopped saying more than
`PAYWIRE_ENTITLEMENT_MAX_STALENESS` before it (property-based, against stripesim).

Each example is a new user on their own test clock, subscribed through Checkout. Hypothesis
then plays real changes through paywire's API and stripesim, each followed by the webhooks the
worker mirrors: an admin's cancel-now, a renewal whose payment fails until the subscription is
unpaid, a pause and an unpause, a downgrade that takes effect at the period end, a one-time
pass that expires as the clock moves on. All the while two processes check the user over and
over: this one through `GET /api/billing` (the service's cache, beside the worker that writes
the mirror) and a second process with an engine of its own, which hears of changes only
through the invalidation channel. Each check is followed by a read of the mirror. Afterwards:
- every cached answer is one the mirror can have given at most the bound before it
  (`entitlement_peer.stale_checks`);
- both caches end on what the mirror says, and the second process answered from its cache
  and was told of changes by the channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from paywire.db.models import Order
from paywire.db.repositories import orders, subscriptions
from tests.paywire.billing.entitlement_peer import (
    Checker,
    Key,
    Peer,
    Sample,
    Sampler,
    longest_lag,
    stale_checks,
    wait_until,
)
from tests.paywire.billing.subscribers import DAY, Subscriber, on_a_clock
from tests.paywire.conftest import Service
from tests.support.stripesim import Sim

USERS = count()
HOUR = 3600
CARD_FAILS_LATER = "4000000000000341"  # attaches, then every charge is declined
ADMIN = "stale_admin"


def billing_key(billing: dict[str, Any]) -> Key:
    pending = billing.get("pending_change") or {}
    return (billing["access"], billing["plan"], billing["state"], pending.get("plan"))


class World:
    """The service, stripesim, and where each example's user stands on their clock."""

    def __init__(self, service: Service, sim: Sim) -> None:
        self.service = service
        self.sim = sim
        self.clock = 0

    def advance(self, who: Subscriber, to: int) -> None:
        self.clock = max(to, self.clock + HOUR)
        who.advance(self.clock)

    def cancel_now(self, who: Subscriber) -> None:
        path = f"/api/admin/users/{who.user_id}/subscription/cancel-now"
        response = who.post(path, {"refund": False}, headers=self.service.headers_for(ADMIN))
        assert response.status_code in (200, 404, 409), response.text

    def pause(self, who: Subscriber) -> None:
        assert who.post("/api/subscription/pause").status_code in (200, 404, 409)

    def unpause(self, who: Subscriber) -> None:
        assert who.post("/api/subscription/unpause").status_code in (200, 402, 404, 409)

    def payment_fails(self, who: Subscriber) -> None:
        """The card starts declining: the renewal fails (past due, in grace), the retries run
        out (unpaid)."""
        if not subscribed(who):
            return
        row = who.mirror()
        if row.status not in ("active", "trialing") or row.pause_collection or row.current_period_end is None:
            return
        client = self.sim.client()
        method = client.v1.payment_methods.create(
            params={"type": "card", "card": {"number": CARD_FAILS_LATER, "exp_month": 12, "exp_year": 2034}}
        )
        client.v1.payment_methods.attach(method.id, params={"customer": row.stripe_customer_id})
        client.v1.customers.update(
            row.stripe_customer_id, params={"invoice_settings": {"default_payment_method": method.id}}
        )
        client.v1.subscriptions.update(row.id, params={"default_payment_method": method.id})
        self.advance(who, row.current_period_end + HOUR)
        self.advance(who, self.clock + 3 * DAY)

    def downgrade(self, who: Subscriber) -> None:
        """To Basic at the period end, which then comes."""
        if not subscribed(who):
            return
        row = who.mirror()
        if row.plan == "basic" or row.status != "active" or row.current_period_end is None:
            return
        response = who.post("/api/subscription/change", {"plan": "basic", "interval": row.interval or "month"})
        assert response.status_code in (200, 404, 409), response.text
        self.advance(who, row.current_period_end + HOUR)

    def buy_pass(self, who: Subscriber) -> Order | None:
        """A 3-month pass (refused while a subscription is live)."""
        response = who.post("/api/checkout", {"product": "pass-3-months"})
        if response.status_code != 200:
            return None
        assert self.sim.complete_checkout(response.json()["id"]).status_code == 200
        found: Order = wait_until("the pass fulfilled", lambda: current_pass(self.service, who))
        return found

    def pass_expires(self, who: Subscriber) -> None:
        """The user's pass (one is bought if they have none) runs out as their clock moves on."""
        held = current_pass(self.service, who) or self.buy_pass(who)
        if held is not None and held.access_ends_at is not None:
            self.advance(who, held.access_ends_at + HOUR)


def subscribed(who: Subscriber) -> bool:
    with who.service.sessions() as session:
        return bool(subscriptions.for_user(session, who.user_id))


def current_pass(service: Service, who: Subscriber) -> Order | None:
    with service.sessions() as session:
        return next((o for o in orders.for_user(session, who.user_id) if o.status == "fulfilled"), None)


ACTIONS: dict[str, Callable[[World, Subscriber], None]] = {
    "cancel_now": World.cancel_now,
    "payment_fails": World.payment_fails,
    "pause": World.pause,
    "unpause": World.unpause,
    "downgrade": World.downgrade,
    "pass_expires": World.pass_expires,
}


@pytest.fixture
def stale_service(make_paywire_service: Callable[..., Service], sim: Sim) -> Service:
    # Renewals that fail are retried twice, a day apart, then the subscription is kept unpaid.
    sim.control("config", {"invoice_retry_days": [1, 2], "subscription_after_retries": "unpaid"})
    return make_paywire_service(PAYWIRE_ADMIN_USERS=ADMIN)


@pytest.fixture
def peer(stale_service: Service) -> Iterator[Peer]:
    found = Peer(stale_service.settings.database_url)
    yield found
    found.close()


def http_check(service: Service, user_id: str) -> Callable[[str], Key]:
    client = httpx.Client(base_url=service.url, timeout=30, trust_env=False)
    headers = service.headers_for(user_id)

    def cached(_: str) -> Key:
        response = client.get("/api/billing", headers=headers)
        assert response.status_code == 200, response.text
        return billing_key(response.json())

    return cached


@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    start=st.sampled_from(["advanced", "pro", "pass"]),
    actions=st.lists(st.sampled_from(sorted(ACTIONS)), min_size=1, max_size=3),
)
def test_no_check_answers_older_than_the_bound(
    stale_service: Service, sim: Sim, peer: Peer, start: str, actions: list[str]
) -> None:
    service = stale_service
    bound = service.settings.entitlement_max_staleness
    world = World(service, sim)
    who = on_a_clock(service, sim, f"stale_{next(USERS)}")
    world.clock = who.sim.client().v1.test_helpers.test_clocks.retrieve(who.clock_id).frozen_time
    if start == "pass":
        assert world.buy_pass(who) is not None
    else:
        who.subscribe(start)
    who.settle()

    mirror = Checker(service.sessions, service.settings, "service")
    here = Sampler([who.user_id], http_check(service, who.user_id), lambda u: mirror.key(u, fresh=True), "service")
    peer.watch([who.user_id])
    try:
        for action in actions:
            ACTIONS[action](world, who)
            who.settle()
        final = mirror.key(who.user_id, fresh=True)
        wait_until("the service's cache on the mirror's answer", lambda: here.cached(who.user_id) == final)
        wait_until("the peer's cache on the mirror's answer", lambda: peer.check(who.user_id).key == final)
    finally:
        samples: list[Sample] = here.stop() + peer.samples()
    assert {s.process for s in samples if not s.fresh} == {"service", "peer"}
    lag = longest_lag(samples)
    event(f"longest lag seen: under {next(ms for ms in (10, 100, 300, 1000, 10**9) if lag < ms / 1000)} ms")
    late = stale_checks(samples, bound)
    assert late == [], f"{len(late)} answers older than {bound}s after {actions}: {late[:3]}"


def test_the_peer_answered_from_its_cache_and_heard_the_channel(stale_service: Service, sim: Sim, peer: Peer) -> None:
    """The property's second process is not reading the mirror every time: its answers come
    from its cache, which the channel keeps up (a change there, one check later, is seen)."""
    who = on_a_clock(stale_service, sim, f"stale_{next(USERS)}")
    who.subscribe("pro")
    who.settle()
    hits = peer.counter("paywire_entitlement_cache_hits_total")
    heard = peer.counter("paywire_entitlement_cache_invalidations_total", source="channel")
    wait_until("a check answered from the peer's cache", lambda: peer.check(who.user_id).key[0] and True)
    wait_until(
        "a cache hit in the peer",
        lambda: peer.check(who.user_id) and peer.counter("paywire_entitlement_cache_hits_total") > hits,
    )
    World(stale_service, sim).pause(who)
    who.settle()
    wait_until("the pause seen by the peer", lambda: not peer.check(who.user_id).key[0])
    assert peer.counter("paywire_entitlement_cache_invalidations_total", source="channel") > heard
