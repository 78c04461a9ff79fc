"""The revenue ledger's backfill, the last step of `paywire sync`: every mirrored subscription
whose ledger rows were all rebuilt from Stripe's objects (none seen happening by the mirror)
gets its history rebuilt again from the subscription and the invoices the mirror now holds,
with Stripe's prices for lines naming a price the subscription no longer has. On an empty
database this is what gives the ledger its past: the subscriptions step wrote each one before
its invoices were mirrored."""

from __future__ import annotations

from collections.abc import Callable

from paywire.db.repositories import revenue as stored
from paywire.reconcile.drift import DIFFERENT, Change, Drift
from paywire.reconcile.resources import SyncContext
from paywire.revenue import ledger
from paywire.revenue.history import WITHOUT_HISTORY

NAME = "revenue"
# Subscriptions rebuilt per transaction: a page's rows, invoices and ledger rows are read in
# one query each, and the histories it changes rewritten in one statement each.
PAGE = 500


def rebuild_histories(ctx: SyncContext, *, dry_run: bool, on_drift: Callable[[Drift], None]) -> int:
    """Rebuild (or, dry, compare) each subscription's history, a page of subscriptions (by id)
    at a time; the number checked."""
    prices = {price["id"]: price for price in ctx.gateway.list_prices()}
    checked, after = 0, ""
    while True:
        with ctx.sessions() as session:
            listed = stored.subscription_statuses_after(session, after, PAGE)
            if not listed:
                return checked
            after = listed[-1][0]
            checked += len(listed)
            # One in its trial has no history whatever its invoices say: if the ledger holds no
            # row of it, it is right as it is, and neither it nor its invoices need reading back.
            in_trial = [i for i, status in listed if status in WITHOUT_HISTORY]
            right = set(in_trial) - set(stored.last_for_subscriptions(session, in_trial))
            found = stored.subscriptions_by_id(session, [i for i, _ in listed if i not in right])
            page = [
                (dict(state), ledger.Owner(user_id, plan, interval))
                for _, user_id, plan, interval, state in found
                if isinstance(state, dict)
            ]
            changed = ledger.rebuild_many(session, page, prices, dry_run=dry_run)
            if changed and not dry_run:
                session.commit()
        for rebuilt in changed:
            drift = Drift(NAME, rebuilt.subscription_id, DIFFERENT, [Change("history", rebuilt.before, rebuilt.after)])
            drift.action = "would rebuild" if dry_run else "rebuilt"
            on_drift(drift)
