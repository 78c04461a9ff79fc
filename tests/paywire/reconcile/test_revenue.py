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


@pytest.fixture
def ctx(
    session_factory: sessionmaker[Session], gateway: StripeGateway, catalog: Catalog, settings: Settings
) -> SyncContext:
    return SyncContext(session_factory, gateway, catalog, settings)


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


def test_the_backfill_by_pages_is_the_rebuild_one_by_one(
    ctx: SyncContext, session_factory: sessionmaker[Session], gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_factory() as session:
        for n, sub_id in enumerate(IDS):
            state = subscription(sub_id, f"cus_r{n}", "active", metadata={"user_id": f"u_r{n}"})
            mirrored_subscriptions.save(ctx.mirror(session), state, OLD, TIMES)
        session.commit()
        # Histories gone wrong; sub_r4's ledger also holds a change the mirror saw happen.
        session.execute(update(RevenueChange).where(RevenueChange.subscription_id.in_(TAMPERED)).values(mrr_after=1))
        session.execute(update(RevenueChange).where(RevenueChange.subscription_id == "sub_r4").values(source="mirror"))
        session.commit()
        tampered = ledger_rows(session)
    prices = {price["id"]: price for price in gateway.list_prices()}

    rebuilt_one_by_one = []
    with session_factory() as session:
        for sub_id in IDS:
            row = subscriptions.find(session, sub_id)
            assert row is not None
            owner = ledger.Owner(row.user_id, row.plan, row.interval)
            invoices = stored.invoices_of_subscription(session, sub_id)
            changed = ledger.rebuild(session, dict(row.stripe_object), owner, invoices, prices)
            if changed is not None:
                rebuilt_one_by_one.append((sub_id, *changed))
        session.commit()
        expected = ledger_rows(session)
    assert [r[0] for r in rebuilt_one_by_one] == ["sub_r0", "sub_r2", "sub_r3"], "the mirror's own rows are kept"

    restore(session_factory, tampered)
    monkeypatch.setattr(revenue, "PAGE", 2)
    told: list[Drift] = []
    checked = revenue.rebuild_histories(ctx, dry_run=False, on_drift=told.append)

    assert checked == len(IDS)
    assert [(d.object_id, str(d.changes[0].mirror), str(d.changes[0].stripe)) for d in told] == rebuilt_one_by_one
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


def test_a_subscription_in_its_trial_without_rows_is_not_read_back(
    ctx: SyncContext, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In its trial a subscription has no history whatever its invoices say: one the ledger
    holds no row of is right, and neither it nor its invoices are read back; one with a row
    (gone wrong) is still rebuilt, to none."""
    with session_factory() as session:
        for sub_id in ("sub_t0", "sub_t1", "sub_a0"):
            status = "active" if sub_id == "sub_a0" else "trialing"
            state = subscription(sub_id, f"cus_{sub_id}", status, metadata={"user_id": f"u_{sub_id}"})
            if status == "trialing":
                state.update(trial_start=1_799_000_000, trial_end=1_801_600_000)
            mirrored_subscriptions.save(ctx.mirror(session), state, OLD, TIMES)
        session.commit()
        rows = ledger_rows(session)
        assert {row["subscription_id"] for row in rows} == {"sub_a0"}, "a trial has no history"
        stored.add(session, [{**row, "subscription_id": "sub_t1"} for row in rows])
        session.commit()
    read_back: list[str] = []
    reading = stored.subscriptions_by_id

    def recorded(session: Session, ids: list[str]) -> Any:
        read_back.extend(ids)
        return reading(session, ids)

    monkeypatch.setattr(stored, "subscriptions_by_id", recorded)
    told: list[Drift] = []

    assert revenue.rebuild_histories(ctx, dry_run=False, on_drift=told.append) == 3

    assert read_back == ["sub_a0", "sub_t1"]
    assert [d.object_id for d in told] == ["sub_t1"]
    with session_factory() as session:
        assert {row["subscription_id"] for row in ledger_rows(session)} == {"sub_a0"}
