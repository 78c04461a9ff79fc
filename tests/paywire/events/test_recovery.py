"""Lost deliveries repaired from Stripe's /v1/events: by `paywire events recover` (a real
process), and by the worker's own schedule with the kept cursor, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paywire.db.models import Cursor, WebhookEvent
from paywire.db.repositories import cursors
from paywire.events.recovery import CURSOR, SinceInvalid, events_oldest_first, parse_since, recover_events
from paywire.stripe import StripeGateway
from tests.paywire.conftest import Service
from tests.paywire.events.conftest import Shop, event_payload, inbox_drained, inbox_rows, metric, wait_for
from tests.paywire.events.recovery_support import lose_deliveries, run_paywire, subscription_drift
from tests.support.stripesim import Sim

NOW = 1_800_000_000
COUNTS = re.compile(r"seen (\d+), already had (\d+), stored (\d+)")


def counts(output: str) -> tuple[int, int, int]:
    found = COUNTS.search(output)
    assert found, output
    seen, had, stored = (int(n) for n in found.groups())
    return seen, had, stored


def subscribe_with_lost_deliveries(service: Service, sim: Sim, user_id: str) -> str:
    """A paid pro subscription (3 seats) whose webhooks all fail to arrive."""
    lose_deliveries(sim)
    shop = Shop(service, sim, user_id)
    session_id = shop.checkout({"plan": "pro", "interval": "month", "quantity": 3})
    assert shop.pay(session_id).status_code < 400
    subscription_id = sim.client().v1.checkout.sessions.retrieve(session_id).subscription
    assert isinstance(subscription_id, str)
    attempts = wait_for("deliveries attempted and failed", lambda: sim.get("webhooks/attempts")["data"])
    assert not any(a["ok"] for a in attempts)
    return subscription_id


def test_recover_stores_what_the_inbox_lacks_once_and_the_mirror_ends_equal_to_stripe(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service(PAYWIRE_RECOVERY_INTERVAL="0")
    subscription_id = subscribe_with_lost_deliveries(service, sim, "user_lost")
    assert inbox_rows(service, object_id=subscription_id) == []
    assert subscription_drift(service, sim.client(), subscription_id) == {"row": "missing"}
    total = sum(1 for _ in sim.client().v1.events.list(params={"limit": 100}).auto_paging_iter())

    first = run_paywire(service, sim, "events", "recover", "--since", "1h")

    assert first.returncode == 0, first.stderr
    seen, had, stored = counts(first.stdout)
    assert seen == total and stored == total - had and stored > 0
    assert "kept cursor:" in first.stdout
    wait_for(
        "the mirror to equal Stripe",
        lambda: inbox_drained(service) and not subscription_drift(service, sim.client(), subscription_id),
    )
    with service.sessions() as session:
        row = session.get(WebhookEvent, inbox_rows(service, object_id=subscription_id)[0].id)
        assert row is not None and row.state == "processed"

    again = run_paywire(service, sim, "events", "recover", "--since", "1h")

    assert again.returncode == 0, again.stderr
    assert counts(again.stdout) == (total, total, 0)


def test_the_worker_schedule_repairs_a_lost_delivery_by_itself(
    make_paywire_service: Callable[..., Service], sim: Sim
) -> None:
    service = make_paywire_service(PAYWIRE_RECOVERY_INTERVAL="1")
    before = metric(service, "paywire_recovery_events_stored_total")

    subscription_id = subscribe_with_lost_deliveries(service, sim, "user_scheduled")

    wait_for(
        "the schedule to repair the mirror",
        lambda: inbox_drained(service) and not subscription_drift(service, sim.client(), subscription_id),
    )
    assert metric(service, "paywire_recovery_events_stored_total") > before
    assert metric(service, "paywire_recovery_runs_total", outcome="completed") >= 1
    with service.sessions() as session:
        kept = session.get(Cursor, CURSOR)
        assert kept is not None and kept.stripe_time is not None and kept.scanned_at is not None
        assert kept.stripe_time <= int(time.time()) - service.settings.recovery_overlap

    def lease_given_back() -> bool:
        with service.sessions() as session:
            row = session.get(Cursor, CURSOR)
            return row is not None and row.held_by is None

    # A run gives its lease back when it ends; with a run every second the next one may hold it
    # at any given look, so the lease must be seen free between runs.
    wait_for("the lease given back between runs", lease_given_back)


def test_the_kept_cursor_is_where_the_next_scan_starts_and_only_a_covering_scan_moves_it(
    make_paywire_service: Callable[..., Service], sim: Sim, gateway: StripeGateway
) -> None:
    service = make_paywire_service(with_worker=False, PAYWIRE_RECOVERY_INTERVAL="0")
    client = sim.client()
    for n in range(3):
        client.v1.customers.create(params={"email": f"c{n}@example.com"})
    scan = {"expected_livemode": False, "overlap": 60, "lookback": 3600}

    first = recover_events(service.sessions, gateway, since=None, **scan)
    assert first.since <= int(time.time()) - 3600 and first.cursor is not None
    assert first.cursor >= int(time.time()) - 60 - 30  # the scan's start minus the overlap

    later = recover_events(service.sessions, gateway, since=first.cursor + 30, **scan)
    assert later.cursor == first.cursor, "a scan that left a gap before it must not move the cursor"

    default = recover_events(service.sessions, gateway, since=None, **scan)
    assert default.since == first.cursor
    assert default.stored == 0 and default.already_had == default.seen


def test_a_busy_second_is_paged_through_and_events_come_oldest_first(sim: Sim, gateway: StripeGateway) -> None:
    client = sim.client()
    start = int(time.time())
    made = [client.v1.customers.create(params={"email": f"busy{n}@example.com"}).id for n in range(23)]
    calls: list[int] = []

    batches = list(
        events_oldest_first(gateway, start - 5, now=int(time.time()), page_size=5, on_list=lambda: calls.append(1))
    )

    events = [e for batch, _ in batches for e in batch]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "each event once"
    customers = [e["data"]["object"]["id"] for e in events if e["type"] == "customer.created"]
    assert customers == made, "oldest first"
    created = [e["created"] for e in events]
    assert created == sorted(created)
    assert len(calls) >= len(ids) // 5, "pages of five"


def test_only_one_scheduled_scan_at_a_time_and_once_per_interval(
    make_paywire_service: Callable[..., Service], sim: Sim, gateway: StripeGateway
) -> None:
    from paywire.events.recovery import ScheduledRecovery

    service = make_paywire_service(with_worker=False, PAYWIRE_RECOVERY_INTERVAL="3600")
    first = ScheduledRecovery(service.settings, service.sessions, gateway, holder="worker-a")
    second = ScheduledRecovery(service.settings, service.sessions, gateway, holder="worker-b")
    with service.sessions() as session:
        assert cursors.take_lease(session, CURSOR, holder="worker-a", seconds=60)
        session.commit()

    assert second.run_if_due() is None, "worker-a holds the lease"
    with service.sessions() as session:
        cursors.release_lease(session, CURSOR, holder="worker-a")
        session.commit()
    report = second.run_if_due()
    assert report is not None
    assert first.run_if_due() is None, "scanned less than an interval ago"
    with service.sessions() as session:
        row = session.scalars(select(Cursor).where(Cursor.name == CURSOR)).one()
        assert row.held_by is None and row.scanned_at is not None


class ListsTheseEvents(StripeGateway):
    """A gateway whose /v1/events holds exactly `events` (Stripe cannot be made to send an
    event of another mode or version)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        super().__init__("sk_test_not_used")
        self.events = events

    def list_events_page(
        self, *, created_gte: int, created_lt: int | None = None, starting_after: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], bool]:
        found = [
            e for e in self.events if e["created"] >= created_gte and (created_lt is None or e["created"] < created_lt)
        ]
        return found[:limit], len(found) > limit


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_recovery_counts_livemode_and_api_version_mismatches_as_the_receiver_does(
    session_factory: sessionmaker[Session],
) -> None:
    now = int(time.time())
    live = json.loads(event_payload("evt_live_one", "customer.updated", livemode=True, created=now))
    old = json.loads(event_payload("evt_old_version", "customer.updated", api_version="2020-08-27", created=now))
    livemode_before = counter("paywire_webhooks_livemode_mismatch_total")
    version_before = counter("paywire_webhooks_api_version_mismatch_total", api_version="2020-08-27")

    report = recover_events(
        session_factory, ListsTheseEvents([live, old]), since=now - 10, expected_livemode=False, overlap=60, lookback=60
    )

    assert (report.stored, report.livemode_mismatch, report.api_version_mismatch) == (2, 1, 1)
    assert counter("paywire_webhooks_livemode_mismatch_total") == livemode_before + 1
    assert counter("paywire_webhooks_api_version_mismatch_total", api_version="2020-08-27") == version_before + 1
    with session_factory() as session:
        assert session.get(WebhookEvent, "evt_live_one").state == "livemode_mismatch"  # type: ignore[union-attr]
        assert session.get(WebhookEvent, "evt_old_version").state == "pending"  # type: ignore[union-attr]
    again = recover_events(
        session_factory, ListsTheseEvents([live, old]), since=now - 10, expected_livemode=False, overlap=60, lookback=60
    )
    assert (again.stored, again.already_had) == (0, 2)
    assert counter("paywire_webhooks_livemode_mismatch_total") == livemode_before + 1, "counted once, when stored"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", NOW - 3 * 86400),
        ("12h", NOW - 12 * 3600),
        ("1d6h30m", NOW - 86400 - 6 * 3600 - 1800),
        ("90s", NOW - 90),
        ("2w", NOW - 14 * 86400),
        ("1700000000", 1_700_000_000),
        ("2026-11-20", 1_763_596_800 + 365 * 86400),
        ("2026-11-20T10:00:00Z", 1_763_596_800 + 365 * 86400 + 36000),
        ("2026-11-20T12:00:00+02:00", 1_763_596_800 + 365 * 86400 + 36000),
    ],
)
def test_since_reads_ages_iso_times_and_unix_seconds(text: str, expected: int) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "3 days", "-3d", "2026-13-01", ""])
def test_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(SinceInvalid):
        parse_since(text, now=NOW)


def test_workers_racing_for_the_schedule_scan_once(
    make_paywire_service: Callable[..., Service], sim: Sim, gateway: StripeGateway
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from paywire.events.recovery import ScheduledRecovery

    service = make_paywire_service(with_worker=False, PAYWIRE_RECOVERY_INTERVAL="3600")
    sim.client().v1.customers.create(params={"email": "race@example.com"})
    schedules = [ScheduledRecovery(service.settings, service.sessions, gateway, holder=f"worker-{n}") for n in range(4)]

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda s: s.run_if_due(), schedules))

    scanned = [r for r in reports if r is not None]
    assert len(scanned) == 1
    assert scanned[0].stored >= 1


def test_a_long_scheduled_scan_is_done_a_few_lists_per_tick_under_one_lease(
    make_paywire_service: Callable[..., Service], sim: Sim, gateway: StripeGateway
) -> None:
    from paywire.events.recovery import ScheduledRecovery

    service = make_paywire_service(with_worker=False, PAYWIRE_RECOVERY_INTERVAL="60")
    client = sim.client()
    lose_deliveries(sim)
    with service.sessions() as session:
        delivered = set(session.scalars(select(WebhookEvent.id)))
    for n in range(12):
        client.v1.customers.create(params={"email": f"tick{n}@example.com"})
    in_stripe = {e.id for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()}
    now = [0.0]
    schedule = ScheduledRecovery(
        service.settings, service.sessions, gateway, holder="w1", clock=lambda: now[0], page_size=5, lists_per_tick=2
    )
    other = ScheduledRecovery(service.settings, service.sessions, gateway, holder="w2")
    assert schedule.tick() is None, "the first scan waits one interval"
    now[0] = 61.0

    reports = []
    while not reports or not reports[-1].complete:
        report = schedule.tick()
        assert report is not None and len(reports) < 200
        reports.append(report)
        if not report.complete:
            assert other.run_if_due() is None, "one scan at a time"
            with service.sessions() as session:
                row = session.get(Cursor, CURSOR)
                assert row is not None and row.held_by == "w1" and row.scanned_at is None

    assert len(reports) > 2
    with service.sessions() as session:
        stored = set(session.scalars(select(WebhookEvent.id)))
        row = session.get(Cursor, CURSOR)
        assert row is not None and row.held_by is None and row.scanned_at is not None
    assert in_stripe <= stored
    assert sum(r.stored for r in reports) == len(stored - delivered) >= 12
    assert schedule.tick() is None, "not due again before the interval"
