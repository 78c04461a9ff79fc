"""`paywire sync` against stripesim: drift found, reported and repaired (a real process, while
the worker runs), a dry run that changes nothing, and resume after an interruption without
redoing what was done — on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select, update

from paywire.catalog import Catalog
from paywire.db.models import Cursor, Customer, Invoice, Subscription
from paywire.db.repositories import customers, subscriptions
from paywire.reconcile import sync as sync_module
from paywire.reconcile.resources import RESOURCES, SyncContext
from paywire.reconcile.sync import SyncInterrupted, sync_mirror
from paywire.stripe import StripeGateway, StripeUnavailable
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import deliveries_settled, inbox_drained, wait_for
from tests.paywire.events.recovery_support import PAYWIRE, cli_env, run_paywire, subscription_drift
from tests.paywire.factories import mirror_subscription
from tests.support.stripesim import Sim


def pro_month_price(client: stripe.StripeClient) -> str:
    [price] = client.v1.prices.list(params={"lookup_keys": ["pro_month"]}).data
    return str(price.id)


def make_subscriptions(client: stripe.StripeClient, count: int) -> list[str]:
    """Trialing pro subscriptions of new customers, made straight in Stripe (oldest first)."""
    price = pro_month_price(client)
    made = []
    for n in range(count):
        customer = client.v1.customers.create(params={"email": f"sync{n}@example.com"})
        subscription = client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": price, "quantity": n + 1}],
                "trial_period_days": 14,
                "metadata": {"user_id": f"user_sync_{n}"},
            }
        )
        made.append(str(subscription.id))
    return made


def mirrored_count(service: Service) -> int:
    with service.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Subscription)) or 0)


def stripe_invoice_ids(client: stripe.StripeClient) -> list[str]:
    return [i.id for i in client.v1.invoices.list(params={"limit": 100}).data]


def test_sync_reports_and_repairs_drift_while_the_worker_runs(paywire_service: Service, sim: Sim) -> None:
    service, client = paywire_service, sim.client()
    made = make_subscriptions(client, 4)
    invoice_ids = stripe_invoice_ids(client)
    # Every delivery made and worked off before the tampering: a late one would repair a row.
    wait_for(
        "the worker to mirror everything",
        lambda: deliveries_settled(sim) and inbox_drained(service) and mirrored_count(service) == 4,
    )
    tampered, period_shifted, deleted = made[0], made[1], made[2]
    customer_of_first = str(client.v1.subscriptions.retrieve(tampered).customer)
    with service.sessions() as session:
        session.execute(update(Subscription).where(Subscription.id == tampered).values(status="canceled", quantity=9))
        session.execute(
            update(Subscription)
            .where(Subscription.id == period_shifted)
            .values(current_period_end=Subscription.current_period_end + 1000)
        )
        session.delete(subscriptions.find(session, deleted))
        session.execute(update(Invoice).where(Invoice.id == invoice_ids[0]).values(status="void", amount_due=4242))
        session.delete(session.get(Invoice, invoice_ids[1]))
        session.add(
            Invoice(id="in_bogus", stripe_customer_id="cus_x", status="open", stripe_created=1, stripe_object={})
        )
        customers.add_customer(
            session, user_id="user_sync_0", stripe_customer_id=customer_of_first, email="old@example.com"
        )
        customers.add_customer(session, user_id="user_gone", stripe_customer_id="cus_gone", email=None)
        session.commit()
        bogus = mirror_subscription(session, "user_bogus").id

    dry = run_paywire(service, sim, "sync", "--dry-run")

    assert dry.returncode == 1, dry.stdout + dry.stderr
    out = dry.stdout
    assert f"subscription {tampered}: " in out and "status canceled → trialing" in out and "quantity 9 → 1" in out
    assert f"subscription {period_shifted}: current_period_end " in out
    assert f"subscription {deleted}: missing from the mirror (trialing) [would add]" in out
    assert f"subscription {bogus}: not in Stripe [would remove]" in out
    assert f"invoice {invoice_ids[0]}: status void → " in out and "amount_due 4242 → 0" in out
    assert f"invoice {invoice_ids[1]}: missing from the mirror" in out
    assert "invoice in_bogus: not in Stripe [would remove]" in out
    assert f"customer {customer_of_first}: email old@example.com → sync0@example.com [would update]" in out
    assert "customer cus_gone: not in Stripe [kept: the user's history still points at it]" in out
    assert "subscriptions: 4 checked, 4 drifted (2 different, 1 extra, 1 missing)" in out
    assert "dry run: 9 difference(s), 8 to repair; nothing changed" in out
    with service.sessions() as session:
        assert subscriptions.find(session, tampered).quantity == 9  # type: ignore[union-attr]
        assert subscriptions.find(session, bogus) is not None

    fixed = run_paywire(service, sim, "sync", "--progress")

    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"subscription {tampered}: " in fixed.stdout and "[updated]" in fixed.stdout
    assert f"subscription {deleted}: missing from the mirror (trialing) [added]" in fixed.stdout
    assert f"subscription {bogus}: not in Stripe [removed]" in fixed.stdout
    assert "invoice in_bogus: not in Stripe [removed]" in fixed.stdout
    assert "subscriptions [" in fixed.stderr and "drift" in fixed.stderr, "the progress bar"
    for subscription_id in made:
        assert subscription_drift(service, client, subscription_id) == {}
    with service.sessions() as session:
        assert subscriptions.find(session, bogus) is None
        assert session.get(Invoice, "in_bogus") is None
        for invoice in client.v1.invoices.list(params={"limit": 100}).data:
            row = session.get(Invoice, invoice.id)
            assert row is not None and (row.status, row.amount_due) == (invoice.status, invoice.amount_due)
        assert customers.find_by_user(session, "user_sync_0").email == "sync0@example.com"  # type: ignore[union-attr]
        assert customers.find_by_user(session, "user_gone") is not None, "links are never removed"

    again = run_paywire(service, sim, "sync")

    assert again.returncode == 0
    assert "mirror in line with Stripe: 0 difference(s) repaired, 1 reported" in again.stdout
    assert "customer cus_gone: not in Stripe [kept: the user's history still points at it]" in again.stdout
    dry_again = run_paywire(service, sim, "sync", "--dry-run")
    assert dry_again.returncode == 0, "only a kept difference is left: nothing to repair"
    assert "subscriptions: 4 checked, 0 drifted" in again.stdout
    assert "invoices: 4 checked, 0 drifted" in again.stdout


class CountingGateway(StripeGateway):
    """Counts list calls per resource (what a resumed run must not repeat)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lists: list[str | None] = []

    def list_subscriptions_page(self, *, starting_after: str | None = None, **kwargs: Any) -> Any:
        self.lists.append(starting_after)
        return super().list_subscriptions_page(starting_after=starting_after, **kwargs)


class Interrupt(KeyboardInterrupt):
    pass


def test_an_interrupted_sync_resumes_after_its_checkpoint(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog
) -> None:
    service = make_paywire_service(with_worker=False)  # nothing mirrored: every subscription is missing
    made = make_subscriptions(sim.client(), 12)
    newest_first = list(reversed(made))
    gateway = CountingGateway("sk_test_paywire_test_suite_key", api_base=sim.url, max_network_retries=0)
    ctx = SyncContext(service.sessions, gateway, catalog, service.settings)
    done: list[str] = []

    def stop_after_seven(resource: str, object_id: str) -> None:
        done.append(object_id)
        if len(done) == 7:
            raise Interrupt

    with pytest.raises(SyncInterrupted) as stopped:
        sync_mirror(ctx, resources=["subscriptions"], page_size=5, on_object=stop_after_seven)

    assert isinstance(stopped.value.cause, Interrupt)
    # The next page is fetched while one is written: at most one page ahead.
    assert gateway.lists[:2] == [None, newest_first[4]] and len(gateway.lists) <= 3
    assert mirrored_count(service) == 5, "a page's repairs are committed with its checkpoint, not before"
    with service.sessions() as session:
        checkpoint = session.get(Cursor, "sync.subscriptions")
        assert checkpoint is not None and checkpoint.last_id == newest_first[4] and checkpoint.scanned_at is None
        assert session.get(Cursor, "sync").held_by is None, "the lease is given back"  # type: ignore[union-attr]
    gateway.lists.clear()

    report = sync_mirror(ctx, resources=["subscriptions"], page_size=5)

    [part] = report.resources
    assert part.resumed_after == newest_first[4]
    assert gateway.lists == [newest_first[4], newest_first[9]], "only the pages after the checkpoint"
    assert part.checked == 7
    assert sorted(d.object_id for d in part.drift) == sorted(newest_first[5:]), "the interrupted page done again"
    assert mirrored_count(service) == 12
    assert "resumed after" in part.summary()
    gateway.lists.clear()

    fresh = sync_mirror(ctx, resources=["subscriptions"], page_size=5)

    assert gateway.lists == [None, newest_first[4], newest_first[9]], "a finished run is not resumed"
    assert fresh.resources[0].drift == [] and not fresh.resources[0].resumed


def test_a_stop_asked_for_mid_page_ends_the_run_at_that_pages_checkpoint(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog
) -> None:
    """What Ctrl-C does to `paywire sync`: the page being written is finished and committed with
    its checkpoint, then the run ends (never inside a transaction)."""
    service = make_paywire_service(with_worker=False)
    newest_first = list(reversed(make_subscriptions(sim.client(), 12)))
    ctx = SyncContext(service.sessions, StripeGateway.from_settings(service.settings), catalog, service.settings)
    stop = threading.Event()

    def ask_on_the_seventh(resource: str, object_id: str) -> None:
        if object_id == newest_first[6]:
            stop.set()

    with pytest.raises(SyncInterrupted) as stopped:
        sync_mirror(ctx, resources=["subscriptions"], page_size=5, on_object=ask_on_the_seventh, stop=stop)

    assert isinstance(stopped.value.cause, KeyboardInterrupt)
    assert mirrored_count(service) == 10, "the second page, asked to stop in, was finished"
    with service.sessions() as session:
        checkpoint = session.get(Cursor, "sync.subscriptions")
        assert checkpoint is not None and checkpoint.last_id == newest_first[9]
        assert session.get(Cursor, "sync").held_by is None, "the lease is given back"  # type: ignore[union-attr]


def test_ctrl_c_stops_the_sync_process_and_the_next_run_continues(
    make_paywire_service: Callable[..., Service], sim: Sim, tmp_path: Any
) -> None:
    service = make_paywire_service(with_worker=False)
    made = make_subscriptions(sim.client(), 8)
    # Slow enough to be stopped part way: after the first checkpoint, at least two more pages
    # of a second each are left, however fast the machine or slow the test's polling.
    sim.control("faults", {"api": {"delay_ms": 1000}})
    log = tmp_path / "sync.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*PAYWIRE, "sync", "--only", "subscriptions", "--page-size", "2"],
            env=cli_env(service, sim),
            stdout=out,
            stderr=subprocess.STDOUT,
            # Ctrl-C as at a terminal: a test run started in the background (`cmd &` in a
            # script) hands its children SIGINT ignored, and Python then never raises
            # KeyboardInterrupt.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def checkpointed() -> bool:
        with service.sessions() as session:
            row = session.get(Cursor, "sync.subscriptions")
            return row is not None and row.last_id is not None

    try:
        wait_for("a first checkpoint", checkpointed)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    output = log.read_text()
    assert code == 130, output
    assert "interrupted: run `paywire sync` again" in output
    assert mirrored_count(service) < 8
    sim.control("faults", {"clear": True})

    resumed = run_paywire(service, sim, "sync", "--only", "subscriptions", "--page-size", "2")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "(resumed after sub_" in resumed.stdout
    assert mirrored_count(service) == 8
    for subscription_id in made:
        assert subscription_drift(service, sim.client(), subscription_id, invoices_too=False) == {}


def test_a_second_sync_is_refused_while_one_holds_the_lease(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    from paywire.db.repositories import cursors

    service = make_paywire_service(with_worker=False)
    with service.sessions() as session:
        assert cursors.take_lease(session, "sync", holder="elsewhere:1:abc", seconds=60)
        session.commit()

    refused = run_paywire(service, sim, "sync")

    assert refused.returncode == 1 and "another sync is running (elsewhere:1:abc" in refused.stderr
    with service.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 0


class ListingOutage(StripeGateway):
    """Stripe fails the third list of subscriptions (once)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lists = 0

    def list_subscriptions_page(self, **kwargs: Any) -> Any:
        self.lists += 1
        if self.lists == 3:
            raise StripeUnavailable("Stripe answered 500 (simulated in the test)")
        return super().list_subscriptions_page(**kwargs)


def test_a_stripe_outage_stops_the_sync_at_its_last_checkpoint_and_the_next_run_finishes(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog
) -> None:
    service = make_paywire_service(with_worker=False)
    made = make_subscriptions(sim.client(), 7)
    gateway = ListingOutage("sk_test_paywire_test_suite_key", api_base=sim.url, max_network_retries=0)
    ctx = SyncContext(service.sessions, gateway, catalog, service.settings)

    with pytest.raises(SyncInterrupted) as stopped:
        sync_mirror(ctx, resources=["subscriptions"], page_size=3)

    assert isinstance(stopped.value.cause, StripeUnavailable)
    assert mirrored_count(service) == 6, "the two pages listed before the outage are written"
    report = sync_mirror(ctx, resources=["subscriptions"], page_size=3)
    [part] = report.resources
    assert part.resumed and part.resumed_after == list(reversed(made))[5]
    assert part.checked == 1 and len(part.drift) == 1
    assert mirrored_count(service) == 7


def test_pages_written_side_by_side_commit_in_their_order_and_give_way_to_the_page_before(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers, pages of one subscription, one user's two trials on neighbouring pages: the
    later page's writer, done first, holds the user's customer row (its trial mark) while it
    waits for the page before, whose writer needs that row. It gives way (rolls back, lets the
    page before commit, writes its page again) instead of both waiting for ever, and every page
    commits with its checkpoint in the list's order."""
    service = make_paywire_service(with_worker=False)
    client = sim.client()
    price = pro_month_price(client)
    customer = client.v1.customers.create(params={"email": "two@example.com"})
    with service.sessions() as session:
        customers.add_customer(session, user_id="u_two", stripe_customer_id=customer.id, email=None)
        session.commit()
    trial = {"customer": customer.id, "items": [{"price": price}], "trial_period_days": 14}
    made = [str(client.v1.subscriptions.create(params=trial).id) for _ in range(2)]
    made += make_subscriptions(client, 2)
    newest_first = list(reversed(made))
    monkeypatch.setattr(sync_module, "GIVE_WAY_SECONDS", 0.3)
    subscriptions_resource = RESOURCES["subscriptions"]
    repairing = subscriptions_resource.repair_page
    repairs: list[str] = []
    checkpoints: list[str | None] = []

    def repair_page(self: Any, ctx: Any, session: Any, drifts: Any) -> Any:
        [drift] = drifts
        repairs.append(drift.object_id)
        if drift.object_id == newest_first[2]:  # the older of the two: the page before
            time.sleep(1.0)  # the next page's writer repairs first and holds the user's rows
        return repairing(ctx, session, drifts)

    def at_commit(resource: str, object_id: str) -> None:
        with service.sessions() as session:
            row = session.get(Cursor, "sync.subscriptions")
            checkpoints.append(row.last_id if row else None)

    monkeypatch.setattr(type(subscriptions_resource), "repair_page", repair_page)
    ctx = SyncContext(service.sessions, StripeGateway.from_settings(service.settings), catalog, service.settings)

    report = sync_mirror(ctx, resources=["subscriptions"], page_size=1, writers=2, on_object=at_commit)

    [part] = report.resources
    assert [d.object_id for d in part.drift] == newest_first, "reported in the list's order"
    assert mirrored_count(service) == 4
    # Each page is counted in its turn, when the page before has committed with its checkpoint.
    assert checkpoints == [None, *newest_first[:3]]
    assert repairs.count(newest_first[3]) >= 2, "the later page gave way and was written again"
    with service.sessions() as session:
        assert session.get(Cursor, "sync.subscriptions").scanned_at is not None  # type: ignore[union-attr]


def test_a_page_writer_failing_side_by_side_stops_the_run_at_the_page_before(
    make_paywire_service: Callable[..., Service], sim: Sim, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure is the run's (not the other writer's giving up), no page after it commits,
    and the next run resumes from the last page committed."""
    service = make_paywire_service(with_worker=False)
    newest_first = list(reversed(make_subscriptions(sim.client(), 4)))
    subscriptions_resource = RESOURCES["subscriptions"]
    repairing = subscriptions_resource.repair_page
    failed: list[str] = []

    def repair_page(self: Any, ctx: Any, session: Any, drifts: Any) -> Any:
        [drift] = drifts
        if drift.object_id == newest_first[1] and not failed:
            failed.append(drift.object_id)
            time.sleep(0.3)  # the next page's writer is done with its repairs by then
            raise RuntimeError("the database went away (simulated in the test)")
        return repairing(ctx, session, drifts)

    monkeypatch.setattr(type(subscriptions_resource), "repair_page", repair_page)
    ctx = SyncContext(service.sessions, StripeGateway.from_settings(service.settings), catalog, service.settings)

    with pytest.raises(SyncInterrupted) as stopped:
        sync_mirror(ctx, resources=["subscriptions"], page_size=1, writers=2)

    assert isinstance(stopped.value.cause, RuntimeError)
    assert mirrored_count(service) == 1, "the page after the failed one is not committed"
    with service.sessions() as session:
        assert session.get(Cursor, "sync.subscriptions").last_id == newest_first[0]  # type: ignore[union-attr]

    report = sync_mirror(ctx, resources=["subscriptions"], page_size=1, writers=2)

    [part] = report.resources
    assert part.resumed_after == newest_first[0]
    assert [d.object_id for d in part.drift] == newest_first[1:]
    assert mirrored_count(service) == 4
