"""Writing many reads at once (a `paywire sync` page): the same rows, version rule and side
effects as `subscriptions.save` and `invoices.save` one by one, in a few statements per page.

One object at a time costs a dozen statements (its link, its stored state, the upsert, its
items, its facts, its revenue rows); a page of a hundred written that way spends its time on
round trips. Here each step is one statement for the whole page: the links and stored states
are read in one query each, the rows upserted in one statement under the version rule
(`paywire.db.upsert.upsert_versioned_page`: the ids it returns are the rows written; a newer
stored read is left alone, as one by one), the items, facts, trial marks and revenue rows of
the written ones written together. The values
come from the same functions the one-by-one writers use (`subscriptions.row_values`,
`state_facts`, `invoices.row_values`), so the two paths cannot drift apart.

A page holds each object once; should a caller pass one twice, the newer read is kept. An
object whose row lost to a payload written while the page was in flight is read again on its
own and written as one by one (`refresh.save_read`: which of the two is newer is not known).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from paywire.db.models import Invoice, Subscription
from paywire.db.repositories import customers, entitlement_versions
from paywire.db.repositories import revenue as stored_revenue
from paywire.db.upsert import upsert_versioned_page
from paywire.mirror import dunning
from paywire.mirror import invoices as mirrored_invoices
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.mirror.context import MirrorContext, load_marks, mark_key
from paywire.mirror.customers import customer_time, users_for
from paywire.mirror.payloads import Times
from paywire.mirror.refresh import overtaken
from paywire.mirror.write import expire_loaded
from paywire.outbox import Fact
from paywire.revenue import ledger as revenue_ledger
from paywire.stripe import Kind, StripeNotFound
from paywire.stripe.ids import id_of


@dataclass(frozen=True)
class Read:
    """An object as a read showed it (a list page is a read): its state, when the read started
    (`stripe_version`, µs) and where it stands in the object's time."""

    state: dict[str, Any]
    version: int
    times: Times


def write_subscriptions(ctx: MirrorContext, reads: Sequence[Read]) -> set[str]:
    """Write subscriptions under the version rule, with their items, the facts their states
    show, their users' trial marks and their revenue rows; the ids written (the others have a
    newer read stored). The caller commits."""
    reads = _newest(reads)
    if not reads:
        return set()
    session = ctx.session
    states = [read.state for read in reads]
    users = users_for(session, states)
    # The revenue ledger compares with the states these writes replace: read them first.
    previous = stored_revenue.stored_subscriptions(session, [s["id"] for s in states])
    owners = {}
    rows = []
    for read, user_id in zip(reads, users, strict=True):
        plan, interval = ctx.catalog.plan_of_subscription(read.state)
        owners[read.state["id"]] = revenue_ledger.Owner(user_id, plan, interval)
        rows.append(
            mirrored_subscriptions.row_values(
                read.state, user_id=user_id, plan=plan, interval=interval, version=read.version, times=read.times
            )
        )
    written_ids = _upsert(session, Subscription, rows)
    written = [s for s in states if s["id"] in written_ids]
    if not written:
        return written_ids | _again_where_payloads_won(ctx, Kind.SUBSCRIPTION, reads, written_ids)
    for fresh in written:
        # What the user may do may have changed: their entitlement version moves at commit.
        entitlement_versions.bump(session, user=owners[fresh["id"]].user_id)
    mirrored_subscriptions.write_items(session, written)
    trials = {owners[f["id"]].user_id for f in written if f.get("trial_start")}
    customers.mark_trials_used(session, {user_id for user_id in trials if user_id})
    facts: list[Fact] = []
    for fresh in written:
        owner = owners[fresh["id"]]
        facts += mirrored_subscriptions.state_facts(
            fresh, user_id=owner.user_id, plan=owner.plan, interval=owner.interval
        )
    ctx.record_facts(facts)
    revenue_ledger.record_many(
        session,
        [
            revenue_ledger.Recorded(previous.get(fresh["id"]), fresh, owners[fresh["id"]], _now_of(ctx, fresh))
            for fresh in written
        ],
        source_event_id=ctx.source_event_id,
    )
    return written_ids | _again_where_payloads_won(ctx, Kind.SUBSCRIPTION, reads, written_ids)


def write_invoices(ctx: MirrorContext, reads: Sequence[Read]) -> set[str]:
    """Write invoices under the version rule, and end the dunning cases their states end; the
    ids written (the others have a newer read stored). The caller commits."""
    reads = _newest(reads)
    if not reads:
        return set()
    rows = []
    for read in reads:
        values = mirrored_invoices.row_values(read.state, version=read.version, times=read.times)
        # A payment waiting on it shows in the user's entitlement: their version moves at commit.
        entitlement_versions.bump(
            ctx.session, customer=values["stripe_customer_id"], subscription=values["subscription_id"]
        )
        rows.append(values)
    written_ids = _upsert(ctx.session, Invoice, rows)
    dunning.follow_many(ctx, [read.state for read in reads if read.state["id"] in written_ids])
    return written_ids | _again_where_payloads_won(ctx, Kind.INVOICE, reads, written_ids)


def _again_where_payloads_won(ctx: MirrorContext, kind: Kind, reads: Sequence[Read], written_ids: set[str]) -> set[str]:
    """The objects of the page whose rows a payload written after the page's read started
    kept, each read again and written on its own; the ids written."""
    kept = [read for read in reads if read.state["id"] not in written_ids]
    if not kept:
        return set()
    marks = load_marks(ctx.session, kind, [read.state["id"] for read in kept])
    save = mirrored_subscriptions.save if kind is Kind.SUBSCRIPTION else mirrored_invoices.save
    again: set[str] = set()
    for read in kept:
        object_id = read.state["id"]
        if not overtaken(marks[mark_key(kind, object_id)], read.version):
            continue
        try:
            snapshot = ctx.reads.again(kind, object_id)
        except StripeNotFound:
            continue
        if save(ctx, snapshot.obj, snapshot.version, snapshot.times).written:
            again.add(object_id)
    return again


def _newest(reads: Sequence[Read]) -> list[Read]:
    """One read per object, the newest, in the order the objects came."""
    kept: dict[str, Read] = {}
    for read in reads:
        held = kept.get(read.state["id"])
        if held is None or read.version >= held.version:
            kept[read.state["id"]] = read
    return list(kept.values())


def _upsert(session: Session, model: Any, rows: list[dict[str, Any]]) -> set[str]:
    """The rows in one statement under the version rule; the ids inserted or updated. ORM
    objects of those rows the session holds are expired, as `write.write_versioned` does."""
    session.flush()  # pending ORM changes first, so they cannot overwrite these writes later
    written = upsert_versioned_page(session, cast(Table, model.__table__), rows)
    expire_loaded(session, model, written)
    return written


def _now_of(ctx: MirrorContext, fresh: dict[str, Any]) -> Callable[[], int]:
    """The customer's time, asked only if the ledger needs it (it may read their test clock)."""
    customer_id = id_of(fresh.get("customer"))
    return lambda: customer_time(ctx, customer_id)
