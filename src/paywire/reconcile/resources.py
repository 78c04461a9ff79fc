"""The mirrored resources (customers, subscriptions, invoices, sellers), each as one small
class: how to list it from Stripe, how to compare a page of objects with their mirror rows, how
to repair a row, and what to do with a row Stripe's list did not show.

Repairs go through the mirror's writers (`paywire.mirror`; a page of subscriptions or invoices
through `paywire.mirror.bulk`, which writes what the events worker's writers write one object
at a time, in a few statements per page): a subscription or an invoice is written as the list
showed it (a page is a read like any other, with its version and the test clocks it expanded,
so no object costs a request of its own) under the version rule (a read that started earlier
never overwrites a newer one), with the outbox facts the change implies; a customer's email
and test clock are followed as `customer.updated` does. So `paywire sync` and the worker can
run at once and still converge.

A row the list did not show is never removed on that ground alone: it is retrieved, and only
a 404 from Stripe makes it "not in Stripe". (An object created after the list passed its
place, or while a run was interrupted, is simply found and compared.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.membership import among
from paywire.db.models import Customer, Invoice, Seller, Subscription, SyncSeen, utcnow
from paywire.db.repositories import connect as connect_rows
from paywire.db.repositories import customers, entitlement_versions
from paywire.db.repositories import sellers as seller_rows
from paywire.mirror import LiveReads, MirrorContext, bulk, read_version
from paywire.mirror import connect as mirrored_connect
from paywire.mirror.bulk import Read
from paywire.mirror.customers import users_for
from paywire.mirror.payloads import UNKNOWN, Times
from paywire.mirror.reads import snapshot_of
from paywire.reconcile.adoption import Adoption, adopt_page, candidate
from paywire.reconcile.drift import (
    DIFFERENT,
    EXTRA,
    MISSING,
    UNLINKED,
    Change,
    Drift,
    customer_changes,
    invoice_changes,
    subscription_changes,
)
from paywire.stripe import Kind, StripeGateway, StripeNotFound
from paywire.stripe.ids import id_of
from paywire.stripe.objects import CLOCK, RETRIEVALS

Page = tuple[list[dict[str, Any]], bool]
# Ids of rows the list did not show are read from the database this many at a time.
UNLISTED_CHUNK = 1000


@dataclass
class SyncContext:
    sessions: sessionmaker[Session]
    gateway: StripeGateway
    catalog: Catalog
    settings: Settings
    # `--adopt`: link Stripe customers to the product's users (paywire.reconcile.adoption).
    adoption: Adoption | None = None

    def mirror(self, session: Session) -> MirrorContext:
        return MirrorContext(session, LiveReads(self.gateway), self.catalog, self.settings)


@dataclass(frozen=True)
class Listed:
    """An object from a list page, and when that page's read started: a mirror row written
    after that comes from a newer read and is not compared with this one. `times`: where the
    page stands in the object's own time (`paywire.mirror.payloads`)."""

    obj: dict[str, Any]
    version: int  # µs since the epoch, as `paywire.read_version()`
    at: datetime
    times: Times = UNKNOWN


class Resource:
    name = ""  # plural, as on the command line and in checkpoints
    singular = ""
    gone_note = ""

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        raise NotImplementedError

    def listed(self, items: list[dict[str, Any]], version: int, at: datetime) -> list[Listed]:
        """A page's objects, read starting at `version`, as the mirror keeps them."""
        return [Listed(obj, version, at) for obj in items]

    def mirror_ids(self, session: Session) -> set[str]:
        raise NotImplementedError

    def unlisted(self, session: Session, seen: set[str] | None, run_id: str | None) -> Iterator[list[str]]:
        """The mirror's ids the run's lists did not show, in chunks: those `seen` lacks (a dry
        run), or those the run's `sync_seen` rows lack (read in chunks: memory stays flat)."""
        column = self.id_column()
        if seen is not None or run_id is None or column is None:
            if seen is None and run_id is not None:
                seen = set(
                    session.scalars(
                        select(SyncSeen.object_id).where(SyncSeen.run_id == run_id, SyncSeen.resource == self.name)
                    )
                )
            found = sorted(self.mirror_ids(session) - (seen or set()))
            for start in range(0, len(found), UNLISTED_CHUNK):
                yield found[start : start + UNLISTED_CHUNK]
            return
        listed = select(SyncSeen.object_id).where(SyncSeen.run_id == run_id, SyncSeen.resource == self.name)
        after = ""
        while True:
            query = select(column).where(column > after, column.not_in(listed)).order_by(column).limit(UNLISTED_CHUNK)
            chunk = list(session.scalars(query))
            if not chunk:
                return
            yield chunk
            after = chunk[-1]

    def id_column(self) -> Any:
        """The mirror's id column, for finding unlisted rows in the database (None: in memory)."""
        return None

    def mirror_count(self, session: Session) -> int:
        raise NotImplementedError

    def check(self, ctx: SyncContext, session: Session, listed: Listed) -> Drift | None:
        """The drift of one listed object (None: in line, or the mirror holds a newer read)."""
        raise NotImplementedError

    def check_page(self, ctx: SyncContext, session: Session, page: Sequence[Listed]) -> list[Drift | None]:
        """The drift of each object of a page (None: in line), in the page's order."""
        return [self.check(ctx, session, listed) for listed in page]

    def planned(self, drift: Drift) -> str:
        """What `repair` would do (for a dry run)."""
        return {MISSING: "would add", DIFFERENT: "would update", EXTRA: "would remove"}[drift.kind]

    def repair(self, ctx: SyncContext, session: Session, drift: Drift) -> str:
        """Bring the row in line with Stripe; returns the action taken. The caller commits."""
        raise NotImplementedError

    def repair_page(self, ctx: SyncContext, session: Session, drifts: Sequence[Drift]) -> list[str]:
        """`repair` of each drift of a page (distinct objects), in order; the actions taken.
        The caller commits."""
        return [self.repair(ctx, session, drift) for drift in drifts]

    def retrieve(self, gateway: StripeGateway, object_id: str) -> dict[str, Any] | None:
        """Stripe's object, or None if Stripe says there is no such object."""
        raise NotImplementedError

    def check_unlisted(self, ctx: SyncContext, session: Session, object_id: str) -> Drift | None:
        """A mirror row the list did not show: gone from Stripe, or compared like the rest."""
        version, at = read_version(), utcnow()
        found = self.retrieve(ctx.gateway, object_id)
        if found is None:
            return Drift(self.singular, object_id, EXTRA, note=self.gone_note)
        [listed] = self.listed([found], version, at)
        return self.check(ctx, session, listed)


class _Kept(Resource):
    """A resource the mirror keeps whole under the version rule (subscriptions, invoices):
    listed with its test clock expanded, compared in one query per page, repaired with the
    listed object itself."""

    kind: Kind

    def listed(self, items: list[dict[str, Any]], version: int, at: datetime) -> list[Listed]:
        ended = time.time()
        found = []
        for obj in items:
            snapshot = snapshot_of(obj, version, ended)
            found.append(Listed(snapshot.obj, version, at, snapshot.times))
        return found

    def retrieve(self, gateway: StripeGateway, object_id: str) -> dict[str, Any] | None:
        try:
            return gateway.retrieve(self.kind, object_id)
        except StripeNotFound:
            return None

    def rows(self, session: Session, ids: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def users(self, session: Session, objs: Sequence[dict[str, Any]]) -> list[str | None]:
        """The users the objects are for, as the mirror reads them (one query for them all)."""
        return [None] * len(objs)

    def changes(self, ctx: SyncContext, row: Any, obj: dict[str, Any], user_id: str | None) -> list[Change]:
        raise NotImplementedError

    def check(self, ctx: SyncContext, session: Session, listed: Listed) -> Drift | None:
        return self.check_page(ctx, session, [listed])[0]

    def check_page(self, ctx: SyncContext, session: Session, page: Sequence[Listed]) -> list[Drift | None]:
        rows = self.rows(session, [listed.obj["id"] for listed in page])
        held = [listed for listed in page if listed.obj["id"] in rows]
        users = dict(zip((h.obj["id"] for h in held), self.users(session, [h.obj for h in held]), strict=True))
        return [self._check(ctx, listed, rows.get(listed.obj["id"]), users.get(listed.obj["id"])) for listed in page]

    def _check(self, ctx: SyncContext, listed: Listed, row: Any, user_id: str | None) -> Drift | None:
        obj = listed.obj
        if row is None:
            return Drift(self.singular, obj["id"], MISSING, note=str(obj.get("status")), listed=listed)
        if row.stripe_version is not None and row.stripe_version > listed.version:
            return None  # written from a read newer than this list
        changes = self.changes(ctx, row, obj, user_id)
        return Drift(self.singular, obj["id"], DIFFERENT, changes, listed=listed) if changes else None

    def save_page(self, ctx: SyncContext, session: Session, reads: Sequence[Read]) -> set[str]:
        """Write a page's reads under the version rule (`paywire.mirror.bulk`); the ids written."""
        raise NotImplementedError

    def repair(self, ctx: SyncContext, session: Session, drift: Drift) -> str:
        return self.repair_page(ctx, session, [drift])[0]

    def repair_page(self, ctx: SyncContext, session: Session, drifts: Sequence[Drift]) -> list[str]:
        """Rows Stripe no longer has are removed one by one (they come one at a time, from
        `check_unlisted`); the page's other drifts are written together."""
        reads = []
        for drift in drifts:
            if drift.kind == EXTRA:
                continue
            listed = drift.listed
            if not isinstance(listed, Listed):  # pragma: no cover - every other drift carries its object
                raise TypeError(f"{drift} carries no listed object")
            reads.append(Read(listed.obj, listed.version, listed.times))
        written = self.save_page(ctx, session, reads) if reads else set()
        actions = []
        for drift in drifts:
            if drift.kind == EXTRA:
                self.remove(session, drift.object_id)
                actions.append("removed")
            elif drift.object_id not in written:
                actions.append("kept: a newer read was written meanwhile")
            else:
                actions.append("added" if drift.kind == MISSING else "updated")
        return actions

    def remove(self, session: Session, object_id: str) -> None:
        raise NotImplementedError


class Subscriptions(_Kept):
    name, singular, kind = "subscriptions", "subscription", Kind.SUBSCRIPTION

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        return gateway.list_subscriptions_page(
            starting_after=starting_after, limit=limit, expand=RETRIEVALS[Kind.SUBSCRIPTION].expand
        )

    def mirror_ids(self, session: Session) -> set[str]:
        return set(session.scalars(select(Subscription.id)))

    def id_column(self) -> Any:
        return Subscription.id

    def mirror_count(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(Subscription)) or 0)

    def rows(self, session: Session, ids: list[str]) -> dict[str, Any]:
        query = (
            select(Subscription).where(among(session, Subscription.id, ids)).options(selectinload(Subscription.items))
        )
        return {row.id: row for row in session.scalars(query)}

    def users(self, session: Session, objs: Sequence[dict[str, Any]]) -> list[str | None]:
        return users_for(session, objs)

    def changes(self, ctx: SyncContext, row: Any, obj: dict[str, Any], user_id: str | None) -> list[Change]:
        plan, interval = ctx.catalog.plan_of_subscription(obj)
        return subscription_changes(row, obj, plan=plan, interval=interval, user_id=user_id)

    def save_page(self, ctx: SyncContext, session: Session, reads: Sequence[Read]) -> set[str]:
        return bulk.write_subscriptions(ctx.mirror(session), reads)

    def remove(self, session: Session, object_id: str) -> None:
        # Its user loses what it granted: their entitlement version moves at commit.
        entitlement_versions.bump(
            session, user=session.scalar(select(Subscription.user_id).where(Subscription.id == object_id))
        )
        session.execute(delete(Subscription).where(Subscription.id == object_id))


class Invoices(_Kept):
    name, singular, kind = "invoices", "invoice", Kind.INVOICE

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        return gateway.list_invoices_page(starting_after=starting_after, limit=limit, expand=(CLOCK,))

    def mirror_ids(self, session: Session) -> set[str]:
        return set(session.scalars(select(Invoice.id)))

    def id_column(self) -> Any:
        return Invoice.id

    def mirror_count(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(Invoice)) or 0)

    def rows(self, session: Session, ids: list[str]) -> dict[str, Any]:
        return {row.id: row for row in session.scalars(select(Invoice).where(among(session, Invoice.id, ids)))}

    def changes(self, ctx: SyncContext, row: Any, obj: dict[str, Any], user_id: str | None) -> list[Change]:
        return invoice_changes(row, obj)

    def save_page(self, ctx: SyncContext, session: Session, reads: Sequence[Read]) -> set[str]:
        return bulk.write_invoices(ctx.mirror(session), reads)

    def remove(self, session: Session, object_id: str) -> None:
        # A payment waiting on it leaves the user's entitlement: their version moves at commit.
        entitlement_versions.bump(
            session, subscription=session.scalar(select(Invoice.subscription_id).where(Invoice.id == object_id))
        )
        session.execute(delete(Invoice).where(Invoice.id == object_id))


KEPT = {
    UNLINKED: "kept: paywire links a customer to a user at checkout only (--adopt links it)",
    EXTRA: "kept: the user's history still points at it",
}


class Customers(Resource):
    """The mirror's customers are links between a user and their one Stripe customer, made
    at checkout. Sync follows their email and test clock; it never removes a link (a deleted
    customer's link still ties the user's history together), and makes one only when asked to
    adopt the account (`--adopt`: `paywire.reconcile.adoption`); otherwise a Stripe customer
    carrying someone's user id is reported, not linked (it is not proof of anything)."""

    name, singular = "customers", "customer"

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        return gateway.list_customers_page(starting_after=starting_after, limit=limit)

    def mirror_ids(self, session: Session) -> set[str]:
        return set(session.scalars(select(Customer.stripe_customer_id)))

    def id_column(self) -> Any:
        return Customer.stripe_customer_id

    def mirror_count(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)

    def check(self, ctx: SyncContext, session: Session, listed: Listed) -> Drift | None:
        return self.check_page(ctx, session, [listed])[0]

    def check_page(self, ctx: SyncContext, session: Session, page: Sequence[Listed]) -> list[Drift | None]:
        ids = [listed.obj["id"] for listed in page]
        rows = {
            r.stripe_customer_id: r
            for r in session.scalars(select(Customer).where(among(session, Customer.stripe_customer_id, ids)))
        }
        return [self._check(ctx, listed, rows.get(listed.obj["id"])) for listed in page]

    def _check(self, ctx: SyncContext, listed: Listed, row: Customer | None) -> Drift | None:
        obj = listed.obj
        if row is None:
            if ctx.adoption is not None:
                found = candidate(obj, ctx.adoption)
                if found.user_id is None:
                    return Drift(self.singular, obj["id"], UNLINKED, plan=f"kept: {found.refused}", listed=listed)
                plan = f"would link, unless user {found.user_id} has a customer already"
                note = f"user {found.user_id} by {found.way}"
                return Drift(self.singular, obj["id"], UNLINKED, note=note, plan=plan, listed=listed)
            metadata = obj.get("metadata") or {}
            user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
            if not user_id:
                return None  # not one of paywire's customers
            return Drift(self.singular, obj["id"], UNLINKED, note=f"names user {user_id}")
        if row.updated_at > listed.at:
            return None
        changes = customer_changes(row, email=obj.get("email"), test_clock_id=id_of(obj.get("test_clock")))
        return Drift(self.singular, obj["id"], DIFFERENT, changes, listed=listed) if changes else None

    def planned(self, drift: Drift) -> str:
        return drift.plan or KEPT.get(drift.kind) or super().planned(drift)

    def repair(self, ctx: SyncContext, session: Session, drift: Drift) -> str:
        if drift.kind == UNLINKED and ctx.adoption is not None and isinstance(drift.listed, Listed):
            return adopt_page(session, [drift.listed.obj], ctx.adoption)[0]
        if drift.kind in KEPT:
            return KEPT[drift.kind]
        fresh = drift.listed.obj if isinstance(drift.listed, Listed) else self.retrieve(ctx.gateway, drift.object_id)
        if fresh is None:
            return "kept: gone from Stripe since it was listed"
        customers.update_details(
            session,
            drift.object_id,
            email=fresh.get("email"),
            test_clock_id=id_of(fresh.get("test_clock")),
        )
        return "updated"

    def repair_page(self, ctx: SyncContext, session: Session, drifts: Sequence[Drift]) -> list[str]:
        """The page's customers to adopt are linked together (`adoption.adopt_page`), its
        followed ones updated in one executemany."""
        actions = [""] * len(drifts)
        adopting = [
            n
            for n, drift in enumerate(drifts)
            if drift.kind == UNLINKED and ctx.adoption is not None and isinstance(drift.listed, Listed)
        ]
        if ctx.adoption is not None and adopting:
            objs = [cast(Listed, drifts[n].listed).obj for n in adopting]
            for n, action in zip(adopting, adopt_page(session, objs, ctx.adoption), strict=True):
                actions[n] = action
        updates = []
        for n, drift in enumerate(drifts):
            if actions[n]:
                continue
            if drift.kind in KEPT or not isinstance(drift.listed, Listed):
                actions[n] = self.repair(ctx, session, drift)
                continue
            fresh = drift.listed.obj
            updates.append((drift.object_id, fresh.get("email"), id_of(fresh.get("test_clock"))))
            actions[n] = "updated"
        customers.update_many_details(session, updates)
        return actions

    def retrieve(self, gateway: StripeGateway, object_id: str) -> dict[str, Any] | None:
        try:
            found = gateway.retrieve(Kind.CUSTOMER, object_id)
        except StripeNotFound:
            return None
        return None if found.get("deleted") else found


class Sellers(Resource):
    """Sellers' connected accounts (Stripe Connect) and the money on them: each account's state
    (capabilities, requirements) is compared with its row, and so are the transfers to it and
    its payouts; a repair reads the account, its balance, transfers (with their charges and the
    platform's fees) and payouts again and writes them under the version rule. Accounts are
    listed with Accounts v2; one of no user of this platform is none of its business, and a row
    whose account Stripe no longer has is reported and kept (the seller's history)."""

    name, singular = "sellers", "seller"
    gone_note = "its connected account is gone from Stripe"

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        found = gateway.connect.list_accounts()
        if starting_after is not None:
            ids = [a["id"] for a in found]
            found = found[ids.index(starting_after) + 1 :] if starting_after in ids else found
        return found, False

    def mirror_ids(self, session: Session) -> set[str]:
        return set(seller_rows.account_ids(session))

    def mirror_count(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(Seller)) or 0)

    def check(self, ctx: SyncContext, session: Session, listed: Listed) -> Drift | None:
        obj = listed.obj
        row = seller_rows.find(session, obj["id"])
        if row is None:
            user_id = (obj.get("metadata") or {}).get("user_id")
            return Drift(self.singular, obj["id"], MISSING, note=f"user {user_id}") if user_id else None
        changes = []
        if row.stripe_version is None or row.stripe_version <= listed.version:
            values = mirrored_connect.seller_values(obj)
            changes = [
                Change(name, getattr(row, name), values[name])
                for name in ("card_payments", "transfers", "payouts", "disabled_reason", "requirements", "deadline")
                if getattr(row, name) != values[name]
            ]
        changes += money_changes(ctx.gateway, session, obj["id"])
        return Drift(self.singular, obj["id"], DIFFERENT, changes) if changes else None

    def planned(self, drift: Drift) -> str:
        return KEPT[EXTRA] if drift.kind == EXTRA else super().planned(drift)

    def repair(self, ctx: SyncContext, session: Session, drift: Drift) -> str:
        if drift.kind == EXTRA:
            return KEPT[EXTRA]
        version = read_version()
        fresh = self.retrieve(ctx.gateway, drift.object_id)
        if fresh is None:
            return "kept: gone from Stripe since it was listed"
        mirrored_connect.write_seller(session, fresh, version=version)
        reread_money(ctx, session, drift.object_id)
        return "added" if drift.kind == MISSING else "updated"

    def retrieve(self, gateway: StripeGateway, object_id: str) -> dict[str, Any] | None:
        try:
            return gateway.connect.retrieve_account(object_id)
        except StripeNotFound:
            return None


def money_changes(gateway: StripeGateway, session: Session, account_id: str) -> list[Change]:
    """How the mirror's transfers to an account and its payouts differ from Stripe's."""
    transfers = {t["id"]: t for t in gateway.connect.list_transfers(destination=account_id)}
    payouts = {p["id"]: p for p in gateway.connect.list_payouts(account_id)}
    kept_transfers = {t.id: t for t in connect_rows.transfers_of(session, account_id, limit=10_000)}
    kept_payouts = {p.id: p for p in connect_rows.payouts_of(session, account_id, limit=10_000)}
    changes = []
    stale = [
        i
        for i, t in transfers.items()
        if i not in kept_transfers or kept_transfers[i].amount_reversed != t["amount_reversed"]
    ]
    if stale:
        changes.append(Change("transfers", len(kept_transfers), len(transfers)))
    if any(i not in kept_payouts or kept_payouts[i].status != p["status"] for i, p in payouts.items()):
        changes.append(Change("payouts", len(kept_payouts), len(payouts)))
    return changes


def reread_money(ctx: SyncContext, session: Session, account_id: str) -> None:
    """An account's balance, transfers (their charges, the platform's fees) and payouts, read
    again and written under the version rule."""
    gateway = ctx.gateway
    version = read_version()
    mirrored_connect.write_balance(session, account_id, gateway.connect.balance(account_id), version=version)
    for transfer in gateway.connect.list_transfers(destination=account_id):
        charge_id = id_of(transfer.get("source_transaction"))
        charge = gateway.retrieve(Kind.CHARGE, charge_id) if charge_id else None
        mirrored_connect.write_transfer(session, transfer, charge, version=version)
        fee_id = id_of((charge or {}).get("application_fee"))
        if fee_id:
            mirrored_connect.write_fee(session, gateway.connect.retrieve_application_fee(fee_id), version=version)
    for payout in gateway.connect.list_payouts(account_id):
        mirrored_connect.write_payout(session, account_id, payout, version=version)


RESOURCES: dict[str, Resource] = {r.name: r for r in (Customers(), Subscriptions(), Invoices(), Sellers())}
