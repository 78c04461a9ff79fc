"""The work most event types share: re-read the object the event names, write it through
the mirror, and record the facts each event type hints at on the state kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from paywire.config import Settings
from paywire.events.handling import Apply, EventGroup, FactRule, HandlerContext
from paywire.mirror import MirrorContext, customers, schedules, subscriptions, test_clocks
from paywire.mirror import invoices as mirrored_invoices
from paywire.mirror.payloads import Offer, newest_offer
from paywire.stripe import Kind, StripeNotFound


class Kept(Protocol):
    @property
    def state(self) -> dict[str, Any]: ...

    @property
    def note(self) -> str: ...


def _refreshing(kind: Kind, refresh: Callable[[MirrorContext, str, Offer | None], Kept | None], gone: str) -> Apply:
    """The work of an event about an object the mirror keeps whole: its newest payload if it
    is provably the newest state, else a re-read (`paywire.mirror.payloads`); the facts each
    type hints at are checked on the state kept (that, or a newer stored one)."""

    def apply(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
        kept = refresh(ctx.mirror, group.object_id, offer_of(kind, group, ctx.mirror.settings))
        if kept is None:
            return f"{group.object_id} {gone}"
        for rule in rules:
            ctx.mirror.record_facts(rule(ctx, kept.state))
        return kept.note

    return apply


def offer_of(kind: Kind, group: EventGroup, settings: Settings) -> Offer | None:
    """The group's newest payload the mirror may apply (None: the rule is off, or no payload
    is provably the newest)."""
    if not settings.apply_event_payloads or not group.payloads_are_states:
        return None
    return newest_offer(kind, group.object_id, group.events)


# However many events about a subscription wait, one payload or one re-read serves them all.
# A canceled subscription stays retrievable (a 404 means another mode or account), so
# `deleted` mirrors status `canceled`.
refresh_subscription = _refreshing(Kind.SUBSCRIPTION, subscriptions.refresh, "not found in Stripe: nothing to mirror")
# A deleted draft is gone from Stripe: nothing was ever owed on it.
refresh_invoice = _refreshing(Kind.INVOICE, mirrored_invoices.refresh, "no longer in Stripe")


def refresh_schedule(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    return schedules.refresh(ctx.mirror, group.object_id)


def follow_customer(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    return customers.follow(ctx.mirror, group.object_id)


def refresh_test_clock(ctx: HandlerContext, group: EventGroup, rules: Sequence[FactRule]) -> str:
    try:
        fresh = ctx.mirror.reads.read(Kind.TEST_CLOCK, group.object_id).obj
    except StripeNotFound:
        return f"{group.object_id} deleted"
    saved = test_clocks.save(ctx.mirror.session, fresh)
    return f"{group.object_id} {saved.status} at {saved.frozen_time}"
