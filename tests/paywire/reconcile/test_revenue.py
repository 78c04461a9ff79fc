"""The revenue ledger's backfill (`paywire.reconcile.revenue`), a page of subscriptions at a
time, rebuilds exactly what `ledger.rebuild` rebuilds one subscription at a time: the same rows,
the same differences reported, rows the mirror saw happen left alone; a dry run changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog
from paywire.config import Settings, load_settings
from paywire.db.models import RevenueChange
from paywire.db.repositories import revenue as stored
from paywire.db.repositories import subscriptions
from paywire.mirror import subscriptions as mirrored_subscriptions
from paywire.reconcile import revenue
from paywire.reconcile.drift import Drift
from paywire.reconcile.resources import SyncContext
from paywire.revenue import ledger
from paywire.stripe import StripeGateway
from tests.paywire.mirror.test_bulk import OLD, TIMES, subscription
from tests.support.stripesim import TEST_KEY

IDS = [f"sub_r{n}" for n in range(5)]
TAMPERED = ["sub_r0", "sub_r2", "sub_r3", "sub_r4"]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(STRIPE_SECRET_KEY=TEST_KEY, DATABASE_URL=database_url, _env_file=None)


def ledger_rows(session: Session) -> list[dict[str, Any]]:
    """The ledger as rows to insert again (without its own id and clock)."""
    rows = session.scalars(select(RevenueChange).order_by(RevenueChange.subscription_id, RevenueChange.seq))
    own = {"id", "recorded_at"}
    return [{c.name: getattr(r, c.name) for c in RevenueChange.__table__.columns if c.name not in own} for r in rows]


def restore(sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> None:
    with sessions() as session:
        session.execute(delete(RevenueChange))
        stored.add(session, rows)
        session.commit()


def mirror_with_wrong_histories(ctx: SyncContext, sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    """IDS mirrored, the histories of TAMPERED gone wrong (sub_r4's ledger also holds a change
    the mirror saw happen): the ledger's rows."""
    with sessions() as session:
        for n, sub_id in enumerate(IDS):
            state = subscription(sub_id, f"cus_r{n}", "active", metadata={"user_id": f"u_r{n}"})
            mirrored_subscriptions.save(ctx.mirror(session), state, OLD, TIMES)
        session.commit()
        session.execute(update(RevenueChange).where(RevenueChange.subscription_id.in_(TAMPERED)).values(mrr_after=1))
        session.execute(update(RevenueChange).where(RevenueChange.subscription_id == "sub_r4").values(source="mirror"))
        session.commit()
        return ledger_rows(session)


def rebuilt_one_by_one(
    sessions: sessionmaker[Session], gateway: StripeGateway
) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]]]:
    """`ledger.rebuild` of each subscription: what changed (id, before, after) and the ledger after."""
    prices = {price["id"]: price for price in gateway.list_prices()}
    changed = []
    with sessions() as session:
        for sub_id in IDS:
            row = subscriptions.find(session, sub_id)
            assert row is not None
            owner = ledger.Owner(row.user_id, row.plan, row.interval)
            invoices = stored.invoices_of_subscription(session, sub_id)
            rebuilt = ledger.rebuild(session, dict(row.stripe_object), owner, invoices, prices)
            if rebuilt is not None:
                changed.append((sub_id, *rebuilt))
        session.commit()
        return changed, ledger_rows(session)


def told_as(drifts: list[Drift]) -> list[tuple[str, str, str]]:
    return [(d.object_id, str(d.changes[0].mirror), str(d.changes[0].stripe)) for d in drifts]


def test_the_backfill_by_pages_is_the_rebuild_one_by_one(
    session_factory: sessionmaker[Session],
    gateway: StripeGateway,
    catalog: Catalog,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = SyncContext(session_factory, gateway, catalog, settings)
    tampered = mirror_with_wrong_histories(ctx, session_factory)
    one_by_one, expected = rebuilt_one_by_one(session_factory, gateway)
    assert [r[0] for r in one_by_one] == ["sub_r0", "sub_r2", "sub_r3"], "the mirror's own rows are kept"

    restore(session_factory, tampered)
    monkeypatch.setattr(revenue, "PAGE", 2)
    told: list[Drift] = []
    checked = revenue.rebuild_histories(ctx, dry_run=False, on_drift=told.append)

    assert checked == len(IDS)
    assert told_as(told) == one_by_one
    assert {d.action for d in told} == {"rebuilt"}
    with session_factory() as session:
        assert ledger_rows(session) == expected

    restore(session_factory, tampered)
    told.clear()
    assert revenue.rebuild_histories(ctx, dry_run=True, on_drift=told.append) == len(IDS)
    assert [d.object_id for d in told] == ["sub_r0", "sub_r2", "sub_r3"]
    assert {d.action for d in told} == {"would rebuild"}
    with session_factory() as session:
        assert ledger_rows(session) == tampered


def invoice(sub_id: str, billing_reason: str) -> dict[str, Any]:
    return {
        "id": f"in_{billing_reason}_{sub_id}",
        "object": "invoice",
        "billing_reason": billing_reason,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub_id}},
    }


def first(sub_id: str) -> dict[str, Any]:
    return invoice(sub_id, "subscription_create")


def later(sub_id: str) -> dict[str, Any]:
    return invoice(sub_id, "subscription_cycle")


def ledger_of(sessions: sessionmaker[Session], sub_id: str) -> list[dict[str, Any]]:
    with sessions() as session:
        return [row for row in ledger_rows(session) if row["subscription_id"] == sub_id]


def test_as_invoices_go_a_subscription_is_rebuilt_with_the_page_after_its_first_invoice(
    session_factory: sessionmaker[Session], gateway: StripeGateway, catalog: Catalog, settings: Settings
) -> None:
    """Stripe lists invoices newest first: once the page after a subscription's first invoice
    is written, all its invoices are (even one created in the same second on the next page)."""
    ctx = SyncContext(session_factory, gateway, catalog, settings)
    tampered = mirror_with_wrong_histories(ctx, session_factory)
    one_by_one, expected = rebuilt_one_by_one(session_factory, gateway)
    restore(session_factory, tampered)
    told: list[Drift] = []
    backfill = revenue.AsInvoicesGo(ctx, "run_1", told.append)

    def page(*invoices: dict[str, Any]) -> list[str]:
        with session_factory() as session:
            changed = backfill.page_written(session, list(invoices))
            session.commit()
        backfill.tell(changed)
        return [c.subscription_id for c in changed]

    assert page(later("sub_r0"), first("sub_r2")) == []
    assert ledger_of(session_factory, "sub_r2") != [r for r in expected if r["subscription_id"] == "sub_r2"]
    # sub_r2's first invoice came a page ago; sub_missing is not mirrored, and sub_r0's first
    # invoice is named twice (a page holds an object once, but nothing here relies on it).
    assert page(first("sub_r0"), first("sub_missing"), first("sub_r0"), first("sub_r1")) == ["sub_r2"]
    assert ledger_of(session_factory, "sub_r2") == [r for r in expected if r["subscription_id"] == "sub_r2"]
    backfill.finish()  # the list ended: sub_r0 rebuilt, sub_r1 was already right
    assert backfill.checked == 3

    # After the lists, only what was not rebuilt as the invoices went: sub_r3 (no first invoice
    # listed) and sub_r4 (rows the mirror saw happen: kept).
    checked = revenue.rebuild_histories(
        ctx, dry_run=False, on_drift=told.append, run_id="run_1", prices=backfill.prices
    )
    assert checked == 2
    assert sorted(told_as(told)) == sorted(one_by_one)
    with session_factory() as session:
        assert ledger_rows(session) == expected


def test_a_run_stopped_while_subscriptions_were_held_leaves_them_to_the_pass_after_the_lists(
    session_factory: sessionmaker[Session], gateway: StripeGateway, catalog: Catalog, settings: Settings
) -> None:
    """What an interrupted run held in memory was not marked rebuilt: the next run's pass takes it."""
    ctx = SyncContext(session_factory, gateway, catalog, settings)
    tampered = mirror_with_wrong_histories(ctx, session_factory)
    one_by_one, expected = rebuilt_one_by_one(session_factory, gateway)
    restore(session_factory, tampered)
    told: list[Drift] = []
    stopped = revenue.AsInvoicesGo(ctx, "run_2", told.append)
    for invoices in ([first("sub_r0")], [first("sub_r2"), first("sub_r3")]):
        with session_factory() as session:
            changed = stopped.page_written(session, invoices)
            session.commit()
        stopped.tell(changed)
    assert [d.object_id for d in told] == ["sub_r0"]  # then the run stopped: sub_r2 and sub_r3 held

    checked = revenue.rebuild_histories(ctx, dry_run=False, on_drift=told.append, run_id="run_2")

    assert checked == len(IDS) - 1
    assert sorted(told_as(told)) == sorted(one_by_one)
    with session_factory() as session:
        assert ledger_rows(session) == expected
