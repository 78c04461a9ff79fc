"""Subscriptions (and their items) in the mirror, and the facts their state shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session

from paywire.db.membership import among, not_among
from paywire.db.models import Subscription, SubscriptionItem
from paywire.db.repositories import customers, entitlement_versions, subscriptions
from paywire.db.upsert import upsert_page
from paywire.mirror import refresh as mirrored
from paywire.mirror.context import MirrorContext
from paywire.mirror.customers import customer_time, user_for
from paywire.mirror.payloads import BY_VERSION, ByVersion, Mark, Offer, Times
from paywire.mirror.rows import item_rows, subscription_row
from paywire.mirror.write import state_marks, write_seen, write_versioned
from paywire.outbox import Fact
from paywire.revenue import ledger as revenue_ledger
from paywire.stripe import Kind
from paywire.stripe.ids import id_of

ACCESS_STATUSES = ("active", "trialing")


@dataclass(frozen=True)
class KeptSubscription:
    """What the mirror holds for a subscription after a refresh: the state (a Stripe
    object), who it is for, and its plan. `written`: this refresh wrote it."""

    state: dict[str, Any]
    user_id: str | None
    plan: str | None
    interval: str | None
    written: bool
    note: str


def refresh(ctx: MirrorContext, subscription_id: str, offer: Offer | None = None) -> KeptSubscription | None:
    """Bring the mirrored subscription up to what the events being handled announce: nothing
    to do if the mirror already holds it, their newest payload (`offer`) if it is provably
    newer than what is stored, else a fresh read (`paywire.mirror.payloads`). None if Stripe
    does not know it (canceled ones stay retrievable: a 404 means another mode or account,
    and asking again won't help)."""
    return mirrored.refresh(ctx, Kind.SUBSCRIPTION, subscription_id, offer, held=_held, save=_save)


def past_checkout(state: dict[str, Any] | None) -> bool:
    """Whether a stored subscription is past what its checkout announces: out of `incomplete`
    (its first status only), paid for or trialing. Its own events carry every later change."""
    return state is not None and state.get("status") not in (None, "incomplete")


def held_past_checkout(ctx: MirrorContext, subscription_id: str) -> KeptSubscription | None:
    """The mirrored subscription, if it is past what its checkout announces (`past_checkout`)."""
    kept = _held(ctx, subscription_id, "mirrored from its own events, not re-read")
    return kept if kept is not None and past_checkout(kept.state) else None


def save(ctx: MirrorContext, fresh: dict[str, Any], version: int, times: Times | None = None) -> KeptSubscription:
    """Write a subscription read at `version` under the version rule, with the facts of the
    state written; what stands after (the newer stored state, if this read was older).
    `times`: where the read stands in the subscription's time (default: from the test clock
    the read expanded, or from `version` and now for a subscription on no clock)."""
    return mirrored.save_read(ctx, Kind.SUBSCRIPTION, _save, fresh, version, times)


def _held(ctx: MirrorContext, subscription_id: str, why: str) -> KeptSubscription | None:
    row = subscriptions.find(ctx.session, subscription_id)
    if row is None:
        return None
    return KeptSubscription(
        row.stripe_object, row.user_id, row.plan, row.interval, False, f"{subscription_id} {row.status}: {why}"
    )


def _save(
    ctx: MirrorContext,
    fresh: dict[str, Any],
    version: int,
    times: Times,
    *,
    event_id: str | None = None,
    seen: Mark | ByVersion | None = BY_VERSION,
) -> KeptSubscription | None:
    """`save`, or with `seen` a payload's state written only over the row seen (None: it was
    someone else's turn, decide again)."""
    user_id = user_for(ctx.session, id_of(fresh.get("customer")), fresh)
    plan, interval = ctx.catalog.plan_of_subscription(fresh)
    # The revenue ledger compares with the state this write replaces: read it first.
    previous = revenue_ledger.stored_state(ctx.session, fresh["id"])
    written = write(
        ctx.session,
        fresh,
        user_id=user_id,
        plan=plan,
        interval=interval,
        version=version,
        time_from=times[0],
        time_to=times[1],
        event_id=event_id,
        seen=seen,
    )
    if not written:
        if not isinstance(seen, ByVersion):
            return None
        row = subscriptions.find(ctx.session, fresh["id"])
        if row is None:  # pragma: no cover - a newer row was there a moment ago, in this transaction
            raise LookupError(f"subscription {fresh['id']} vanished while being written")
        note = f"{fresh['id']} kept: a newer read is stored"
        return KeptSubscription(row.stripe_object, row.user_id, row.plan, row.interval, False, note)
    if user_id and fresh.get("trial_start"):
        customers.mark_trial_used(ctx.session, user_id)
    ctx.record_facts(state_facts(fresh, user_id=user_id, plan=plan, interval=interval))
    # A change of the subscription's monthly value goes to the revenue ledger, in this transaction.
    revenue_ledger.record(
        ctx.session,
        previous,
        fresh,
        revenue_ledger.Owner(user_id, plan, interval),
        now=lambda: customer_time(ctx, id_of(fresh.get("customer"))),
        source_event_id=ctx.source_event_id,
    )
    source = f" from {event_id}'s payload" if event_id else ""
    note = f"{fresh['id']} {fresh.get('status')} plan={plan}/{interval}{source}"
    return KeptSubscription(fresh, user_id, plan, interval, True, note)


def write(
    session: Session,
    fresh: dict[str, Any],
    *,
    user_id: str | None,
    plan: str | None,
    interval: str | None,
    version: int,
    time_from: int | None = None,
    time_to: int | None = None,
    event_id: str | None = None,
    seen: Mark | ByVersion | None = BY_VERSION,
) -> bool:
    """The row and its items, under the version rule (or, with `seen`, over the row seen);
    True if written."""
    values = row_values(
        fresh,
        user_id=user_id,
        plan=plan,
        interval=interval,
        version=version,
        times=(time_from, time_to),
        event_id=event_id,
    )
    written = (
        write_versioned(session, Subscription, values)
        if isinstance(seen, ByVersion)
        else write_seen(session, Subscription, values, seen)
    )
    if not written:
        return False
    # What the user may do may have changed: their entitlement version moves at commit.
    entitlement_versions.bump(session, user=user_id)
    write_items(session, [fresh])
    return True


def row_values(
    fresh: dict[str, Any],
    *,
    user_id: str | None,
    plan: str | None,
    interval: str | None,
    version: int,
    times: Times,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The row a write of `fresh` stores (`rows.subscription_row` and what the mirror adds)."""
    values = subscription_row(fresh)
    values.update(user_id=user_id, plan=plan, interval=interval)
    values.update(state_marks(version=version, times=times, event_id=event_id))
    return values


def write_items(session: Session, written: Sequence[dict[str, Any]]) -> None:
    """The items of subscriptions just written (distinct ids): those they no longer have
    deleted in one statement, theirs upserted in one executemany."""
    ids = [fresh["id"] for fresh in written]
    items = [{**row, "subscription_id": fresh["id"]} for fresh in written for row in item_rows(fresh)]
    items_table = cast(Table, SubscriptionItem.__table__)
    session.execute(
        delete(items_table).where(
            among(session, items_table.c.subscription_id, ids),
            not_among(session, items_table.c.id, [i["id"] for i in items]),
        )
    )
    upsert_page(session, items_table, items)
    expired = set(ids)
    for item in [o for o in session.identity_map.values() if isinstance(o, SubscriptionItem)]:
        if "subscription_id" not in item.__dict__ or item.subscription_id in expired:
            session.expire(item)


def state_facts(
    subscription: dict[str, Any], *, user_id: str | None, plan: str | None, interval: str | None
) -> list[Fact]:
    """Facts the state itself shows, whoever wrote it: `access_granted` (active or trialing),
    `subscription_canceled` (with Stripe's reason: `payment_failed` after the last try),
    `trial_ended` (a trial that ended without a way to pay, canceled or paused instead of
    the cancellation) and `access_paused` (left `unpaid` after the last try, per invoice). A
    state paywire never saw makes no fact: a subscription canceled before its first write
    never granted access here, so it gets `subscription_canceled` only."""
    sub_id = subscription["id"]
    status = subscription.get("status")
    common = subscription_payload(subscription, plan=plan, interval=interval)
    found: list[Fact] = []
    if status in ACCESS_STATUSES:
        # Once per subscription: the welcome, not every renewal.
        found.append(Fact("access_granted", f"access_granted:{sub_id}", user_id, sub_id, common))
    trial_end = subscription.get("trial_end")
    if status in ("canceled", "paused") and trial_end and _ended_with_trial(subscription):
        # A trial that ended without a way to pay: told as such, not as a cancellation.
        ended = {**common, "trial_end": trial_end}
        found.append(Fact("trial_ended", f"trial_ended:{sub_id}:{trial_end}", user_id, sub_id, ended))
    elif status == "canceled":
        reason = (subscription.get("cancellation_details") or {}).get("reason")
        ended = {**common, "ended_at": subscription.get("ended_at"), "reason": reason}
        found.append(Fact("subscription_canceled", f"subscription_canceled:{sub_id}", user_id, sub_id, ended))
    if status == "unpaid":
        # Stripe's end of dunning when it leaves the subscription unpaid: access pauses.
        invoice_id = id_of(subscription.get("latest_invoice"))
        key = f"access_paused:{sub_id}:{invoice_id}"
        found.append(Fact("access_paused", key, user_id, sub_id, {**common, "invoice_id": invoice_id}))
    return found


def _ended_with_trial(subscription: dict[str, Any]) -> bool:
    if subscription.get("status") == "canceled":
        return subscription.get("ended_at") == subscription.get("trial_end")
    paused = ((subscription.get("status_details") or {}).get("paused") or {}).get("subscription") or {}
    return paused.get("type") == "trial_end_without_payment_method"


def subscription_payload(subscription: dict[str, Any], *, plan: str | None, interval: str | None) -> dict[str, Any]:
    """What every fact about a subscription carries."""
    return {
        "subscription_id": subscription["id"],
        "stripe_customer_id": id_of(subscription.get("customer")),
        "plan": plan,
        "interval": interval,
        "status": subscription.get("status"),
    }
