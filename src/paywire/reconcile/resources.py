"""The three mirrored resources, each as one small class: how to list it from Stripe, how to
compare one object with its mirror row, how to repair the row, and what to do with a row
Stripe's list did not show.

Repairs go through the same writers the events worker uses: a subscription is re-read and
written by `paywire.events.mirror.save_subscription`, an invoice by `mirror.save_invoice`
(the version rule: a read that started earlier never overwrites a newer one; and the outbox
facts the change implies), a customer's email and test clock are followed as
`customer.updated` does. So `paywire sync` and the worker can run at once
and still converge.

A row the list did not show is never removed on that ground alone: it is retrieved, and only
a 404 from Stripe makes it "not in Stripe". (An object created after the list passed its
place, or while a run was interrupted, is simply found and compared.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.models import Customer, Invoice, Subscription, utcnow
from paywire.db.repositories import customers, invoices, subscriptions
from paywire.events import mirror
from paywire.reconcile.drift import (
    DIFFERENT,
    EXTRA,
    MISSING,
    UNLINKED,
    Drift,
    customer_changes,
    invoice_changes,
    subscription_changes,
)
from paywire.stripe import StripeGateway, StripeNotFound

Page = tuple[list[dict[str, Any]], bool]


@dataclass
class SyncContext:
    sessions: sessionmaker[Session]
    gateway: StripeGateway
    catalog: Catalog
    settings: Settings

    def handler_context(self, session: Session) -> mirror.HandlerContext:
        return mirror.HandlerContext(session, self.gateway, self.catalog, self.settings)


@dataclass(frozen=True)
class Listed:
    """An object from a list page, and when that page's read started: a mirror row written
    after that comes from a newer read and is not compared with this one."""

    obj: dict[str, Any]
    version: int  # µs since the epoch, as `mirror.read_version()`
    at: datetime


class Resource:
    name = ""  # plural, as on the command line and in checkpoints
    singular = ""
    gone_note = ""

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        raise NotImplementedError

    def mirror_ids(self, session: Session) -> set[str]:
        raise NotImplementedError

    def mirror_count(self, session: Session) -> int:
        raise NotImplementedError

    def check(self, ctx: SyncContext, session: Session, listed: Listed) -> Drift | None:
        """The drift of one listed object (None: in line, or the mirror holds a newer read)."""
        raise NotImplementedError

    def planned(self, drift: Drift) -> str:
        """What `repair` would do (for a dry run)."""
        return {MISSING: "would add", DIFFERENT: "would update", EXTRA: "would remove"}[drift.kind]

    def repair(self, ctx: SyncContext, session: Session, drift: Drift) -> str:
        """Bring the row in line with Stripe (a fresh read); returns the action taken. The
        caller commits."""
        raise NotImplementedError

    def retrieve(self, gateway: StripeGateway, object_id: str) -> dict[str, Any] | None:
        """Stripe's object, or None if Stripe says there is no such object."""
        raise NotImplementedError

    def check_unlisted(self, ctx: SyncContext, session: Session, object_id: str) -> Drift | None:
        """A mirror row the list did not show: gone from Stripe, or compared like the rest."""
        version, at = mirror.read_version(), utcnow()
        found = self.retrieve(ctx.gateway, object_id)
        if found is None:
            return Drift(self.singular, object_id, EXTRA, note=self.gone_note)
        return self.check(ctx, session, Listed(found, version, at))


class Subscriptions(Resource):
    name, singular = "subscriptions", "subscription"

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        return gateway.list_subscriptions_page(
            starting_after=starting_after, limit=limit, expand=mirror.SUBSCRIPTION_EXPAND
        )

    def mirror_ids(self, session: Session) -> set[str]:
        return set(session.scalars(select(Subscription.id)))

    def mirror_count(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(Subscription)) or 0)

    def check(self, ctx: SyncContext, session: Session, listed: Listed) -> Drift | None:
        obj = listed.obj
        row = subscriptions.find(session, obj["id"])
        if row is None:
            return Drift(self.singular, obj["id"], MISSING, note=str(obj.get("status")))
        if row.stripe_version is not None and row.stripe_version > listed.version:
            return None
        plan, interval = mirror.plan_of(ctx.catalog, obj)
        user_id = mirror.user_for(session, mirror.stripe_id(obj.get("customer")), obj)
        changes = subscription_changes(row, obj, plan=plan, interval=interval, user_id=user_id)
        return Drift(self.singular, obj["id"], DIFFERENT, changes) if changes else None

    def repair(self, ctx: SyncContext, session: Session, drift: Drift) -> str:
        if drift.kind == EXTRA:
            session.execute(delete(Subscription).where(Subscription.id == drift.object_id))
            return "removed"
        version = mirror.read_version()
        fresh = self.retrieve(ctx.gateway, drift.object_id)
        if fresh is None:
            return "kept: gone from Stripe since it was listed"
        mirror.save_subscription(ctx.handler_context(session), fresh, version)
        row = subscriptions.find(session, drift.object_id)
        if row is None or row.stripe_version != version:
            return "kept: a newer read was written meanwhile"
        return "added" if drift.kind == MISSING else "updated"

    def retrieve(self, gateway: StripeGateway, object_id: str) -> dict[str, Any] | None:
        try:
            return gateway.retrieve_subscription(object_id, expand=mirror.SUBSCRIPTION_EXPAND)
        except StripeNotFound:
            return None


class Invoices(Resource):
    name, singular = "invoices", "invoice"

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        return gateway.list_invoices_page(starting_after=starting_after, limit=limit)

    def mirror_ids(self, session: Session) -> set[str]:
        return set(session.scalars(select(Invoice.id)))

    def mirror_count(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(Invoice)) or 0)

    def check(self, ctx: SyncContext, session: Session, listed: Listed) -> Drift | None:
        obj = listed.obj
        row = invoices.find(session, obj["id"])
        if row is None:
            return Drift(self.singular, obj["id"], MISSING, note=str(obj.get("status")))
        if row.stripe_version is not None and row.stripe_version > listed.version:
            return None  # written from a read newer than this list
        changes = invoice_changes(row, obj)
        return Drift(self.singular, obj["id"], DIFFERENT, changes) if changes else None

    def repair(self, ctx: SyncContext, session: Session, drift: Drift) -> str:
        if drift.kind == EXTRA:
            session.execute(delete(Invoice).where(Invoice.id == drift.object_id))
            return "removed"
        version = mirror.read_version()
        fresh = self.retrieve(ctx.gateway, drift.object_id)
        if fresh is None:
            return "kept: gone from Stripe since it was listed"
        mirror.save_invoice(ctx.handler_context(session), fresh, version)
        row = invoices.find(session, drift.object_id)
        if row is None or row.stripe_version != version:
            return "kept: a newer read was written meanwhile"
        return "added" if drift.kind == MISSING else "updated"

    def retrieve(self, gateway: StripeGateway, object_id: str) -> dict[str, Any] | None:
        try:
            return gateway.retrieve_invoice(object_id)
        except StripeNotFound:
            return None


KEPT = {
    UNLINKED: "kept: paywire links a customer to a user at checkout only",
    EXTRA: "kept: the user's history still points at it",
}


class Customers(Resource):
    """The mirror's customers are links between a user and their one Stripe customer, made
    at checkout. Sync follows their email and test clock; it never makes or removes a link
    (a Stripe customer carrying someone's user id is not proof of anything, and a deleted
    customer's link still ties the user's history together): those are reported."""

    name, singular = "customers", "customer"

    def list_page(self, gateway: StripeGateway, starting_after: str | None, limit: int) -> Page:
        return gateway.list_customers_page(starting_after=starting_after, limit=limit)

    def mirror_ids(self, session: Session) -> set[str]:
        return set(session.scalars(select(Customer.stripe_customer_id)))

    def mirror_count(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)

    def check(self, ctx: SyncContext, session: Session, listed: Listed) -> Drift | None:
        obj = listed.obj
        row = customers.find_by_stripe_id(session, obj["id"])
        if row is None:
            metadata = obj.get("metadata") or {}
            user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
            if not user_id:
                return None  # not one of paywire's customers
            return Drift(self.singular, obj["id"], UNLINKED, note=f"user {user_id}")
        if row.updated_at > listed.at:
            return None
        changes = customer_changes(row, email=obj.get("email"), test_clock_id=mirror.stripe_id(obj.get("test_clock")))
        return Drift(self.singular, obj["id"], DIFFERENT, changes) if changes else None

    def planned(self, drift: Drift) -> str:
        return KEPT.get(drift.kind) or super().planned(drift)

    def repair(self, ctx: SyncContext, session: Session, drift: Drift) -> str:
        if drift.kind in KEPT:
            return KEPT[drift.kind]
        fresh = self.retrieve(ctx.gateway, drift.object_id)
        if fresh is None:
            return "kept: gone from Stripe since it was listed"
        customers.update_details(
            session,
            drift.object_id,
            email=fresh.get("email"),
            test_clock_id=mirror.stripe_id(fresh.get("test_clock")),
        )
        return "updated"

    def retrieve(self, gateway: StripeGateway, object_id: str) -> dict[str, Any] | None:
        try:
            found = gateway.retrieve_customer(object_id)
        except StripeNotFound:
            return None
        return None if found.get("deleted") else found


RESOURCES: dict[str, Resource] = {r.name: r for r in (Customers(), Subscriptions(), Invoices())}
