"""The revenue ledger's backfill in `paywire sync`: every mirrored subscription whose ledger rows
were all rebuilt from Stripe's objects (none seen happening by the mirror) gets its history
rebuilt again from the subscription and the invoices the mirror now holds, with Stripe's prices
for lines naming a price the subscription no longer has. On an empty database this is what
gives the ledger its past: the subscriptions step wrote each one before its invoices were
mirrored.

Most of it is done while the invoices are listed (`AsInvoicesGo`), in the transaction of an
invoices page: the listing waits on the request budget between pages, so the rebuild costs the
sync little time there, where a pass of its own after the lists cost a sixth of the whole sync.
Stripe lists invoices newest first, so once the page holding a subscription's first invoice
(`billing_reason` `subscription_create`) is written, all its invoices are in the mirror; it is
rebuilt with the page after that one (an invoice created in the same second as the first may
come on either side of a page boundary), or at the end of the list. Each subscription rebuilt
there is marked in the run's `sync_seen` (resource `revenue`), so the pass after the lists
(`rebuild_histories`) takes only the others: subscriptions without such an invoice, and those
of a page an interrupted run had not reached."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from paywire.db.repositories import cursors
from paywire.db.repositories import revenue as stored
from paywire.mirror.rows import invoice_subscription
from paywire.reconcile.drift import DIFFERENT, Change, Drift
from paywire.reconcile.resources import SyncContext
from paywire.revenue import ledger

NAME = "revenue"
# Subscriptions rebuilt per transaction: a page's rows, invoices and ledger rows are read in
# one query each, and the histories it changes rewritten in one statement each.
PAGE = 500
FIRST_INVOICE = "subscription_create"

Prices = dict[str, dict[str, Any]]


def rebuild_histories(
    ctx: SyncContext,
    *,
    dry_run: bool,
    on_drift: Callable[[Drift], None],
    run_id: str | None = None,
    prices: Callable[[], Prices] | None = None,
) -> int:
    """Rebuild (or, dry, compare) each subscription's history, a page of subscriptions (by id)
    at a time, but those `run_id` already rebuilt as its invoices were listed; the number
    checked. `prices`: where Stripe's prices come from (default: listed once, here)."""
    known = prices() if prices is not None else _listed_prices(ctx)
    checked, after = 0, ""
    unless_seen = (run_id, NAME) if run_id is not None else None
    while True:
        with ctx.sessions() as session:
            found = stored.subscriptions_after(session, after, PAGE, unless_seen=unless_seen)
            if not found:
                return checked
            after = found[-1][0]
            checked += len(found)
            changed = _rebuild(session, found, known, dry_run=dry_run)
            if changed and not dry_run:
                session.commit()
        _tell(changed, dry_run=dry_run, on_drift=on_drift)


class AsInvoicesGo:
    """The backfill of the subscriptions whose first invoice a sync run's invoices list shows,
    done in the transactions of its pages (see the module docstring)."""

    def __init__(self, ctx: SyncContext, run_id: str, on_drift: Callable[[Drift], None]) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.on_drift = on_drift
        self.checked = 0
        self._prices: Prices | None = None
        self._waiting: list[str] = []  # first invoices on the page written last

    def prices(self) -> Prices:
        """Stripe's prices, listed once for the whole run."""
        if self._prices is None:
            self._prices = _listed_prices(self.ctx)
        return self._prices

    def page_written(self, session: Session, invoices: Sequence[dict[str, Any]]) -> list[ledger.Rebuilt]:
        """In the transaction of an invoices page, its rows written: rebuild the subscriptions
        whose first invoice came on the page before, and hold this page's. What changed, to
        `tell` once the transaction is committed."""
        changed = self._rebuild_waiting(session)
        self._waiting = list(
            dict.fromkeys(
                subscription_id
                for invoice in invoices
                if invoice.get("billing_reason") == FIRST_INVOICE
                and (subscription_id := invoice_subscription(invoice)) is not None
            )
        )
        return changed

    def tell(self, changed: list[ledger.Rebuilt]) -> None:
        _tell(changed, dry_run=False, on_drift=self.on_drift)

    def finish(self) -> None:
        """The list has ended: rebuild the subscriptions still held."""
        with self.ctx.sessions() as session:
            changed = self._rebuild_waiting(session)
            session.commit()
        self.tell(changed)

    def _rebuild_waiting(self, session: Session) -> list[ledger.Rebuilt]:
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return []
        found = stored.subscriptions_by_id(session, waiting)
        self.checked += len(found)
        changed = _rebuild(session, found, self.prices(), dry_run=False)
        cursors.add_seen(session, self.run_id, NAME, [row[0] for row in found])
        return changed


def _listed_prices(ctx: SyncContext) -> Prices:
    return {price["id"]: price for price in ctx.gateway.list_prices()}


def _rebuild(
    session: Session, found: Sequence[stored.MirroredSubscription], prices: Prices, *, dry_run: bool
) -> list[ledger.Rebuilt]:
    page = [
        (dict(state), ledger.Owner(user_id, plan, interval))
        for _, user_id, plan, interval, state in found
        if isinstance(state, dict)
    ]
    return ledger.rebuild_many(session, page, prices, dry_run=dry_run)


def _tell(changed: list[ledger.Rebuilt], *, dry_run: bool, on_drift: Callable[[Drift], None]) -> None:
    for rebuilt in changed:
        drift = Drift(NAME, rebuilt.subscription_id, DIFFERENT, [Change("history", rebuilt.before, rebuilt.after)])
        drift.action = "would rebuild" if dry_run else "rebuilt"
        on_drift(drift)
