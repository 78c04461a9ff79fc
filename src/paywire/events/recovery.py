"""Recovering events whose delivery never arrived, from Stripe's `/v1/events` (kept 30 days).

Webhooks are the fast path; this is the safety net. A scan lists the events created since a
time and stores, exactly as the receiver does (same row, same livemode and api_version
checks), every one the inbox lacks; the worker then processes them like any delivery.
Storing is `INSERT … ON CONFLICT DO NOTHING` by event id, so a scan that races a delivery,
or runs twice, stores each event once.

Order: Stripe lists newest first. A scan walks time windows oldest first, and each window is
small enough for one page (a busy window is split in two until it fits, down to one second,
which is then paged through), so events reach the inbox roughly in the order they happened
and a scan can stop and continue without holding 30 days of events in memory.

The kept cursor (`cursors` row `events.recovery`): after a complete scan that started at
local time S, every event created before S and visible then is in the inbox. The next scan
starts at S minus an overlap, because `created` has one-second resolution and ties, an event
can become visible in the list a little after its `created`, and the two clocks may differ.
The cursor only moves forward, and only a scan that covered it may move it. Events made
under a Stripe test clock carry the clock's time: ones ahead of real time are simply seen
again by each scan (and found already stored); ones dated before the cursor are reached by
an explicit `paywire events recover --since …`.

Connected accounts: once the platform's events are scanned, each seller's account is scanned over
the same window for its own events (listed with its `Stripe-Account`: `account.updated`,
`payout.*`, `balance.available`), stored the same way. The kept cursor is the platform's.

Scheduled: every worker calls `ScheduledRecovery.tick()` in its loop; one conditional UPDATE
of the cursor's lease lets only one process scan at a time, and only when the last complete
scan is older than the interval (PAYWIRE_RECOVERY_INTERVAL), whatever the number of workers.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paywire.config import Settings
from paywire.db.models import WebhookEvent, utcnow
from paywire.db.repositories import cursors, sellers
from paywire.events import store
from paywire.events.receiver import note_mismatches
from paywire.metrics import RECOVERY_EVENTS_STORED, RECOVERY_RUNS
from paywire.stripe import PINNED_API_VERSION, StripeGateway

log = logging.getLogger("paywire.events.recovery")

CURSOR = "events.recovery"
PAGE_SIZE = 100
# A scan renews its lease after every window; a holder that died frees it after this long.
LEASE_SECONDS = 300.0
# A scheduled scan's list requests per round of the worker loop (it continues at the next).
LISTS_PER_TICK = 10
EVENTS_KEPT_SECONDS = 30 * 86400
_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class SinceInvalid(ValueError):
    """`--since` is neither a relative age (`3d`, `12h`, `1d6h`), an ISO time nor a unix time."""


def parse_since(text: str, *, now: float | None = None) -> int:
    """A unix time from `3d` / `12h30m` (ago), `2026-11-20` / `2026-11-20T10:00:00Z` (UTC when
    no zone is given) or unix seconds. Pure."""
    now = time.time() if now is None else now
    value = text.strip().lower()
    if value.isdigit():
        return int(value)
    if value and _RELATIVE.sub("", value).strip() == "":
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _RELATIVE.findall(value))
        return int(now) - seconds
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SinceInvalid(f"{text!r}: use an age like 3d or 12h, an ISO time, or unix seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


@dataclass
class RecoveryReport:
    since: int
    seen: int = 0
    already_had: int = 0
    stored: int = 0
    livemode_mismatch: int = 0  # stored for the record, never applied
    api_version_mismatch: int = 0
    list_calls: int = 0
    cursor: int | None = None  # the kept cursor after the scan
    complete: bool = False  # False: stopped at its list budget, `scan` continues it
    scan: Scan | None = None
    connected_accounts: int = 0  # sellers' accounts whose own events were scanned too

    def summary(self) -> str:
        return (
            f"seen {self.seen}, already had {self.already_had}, stored {self.stored}, "
            f"mismatched {self.livemode_mismatch} livemode / {self.api_version_mismatch} api_version"
        )


def events_oldest_first(
    gateway: StripeGateway,
    since: int,
    *,
    now: int,
    page_size: int = PAGE_SIZE,
    on_list: Callable[[], None] | None = None,
    account: str | None = None,
) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
    """Every event created at or after `since`, as (batch oldest first, end of the window it
    closes or None). Batches come in time order; each fits in one page, except the events of
    a single busy second, which are paged through. `account`: a connected account's own events
    (listed with its `Stripe-Account`), instead of the platform's."""

    def page(gte: int, lt: int | None, after: str | None = None) -> tuple[list[dict[str, Any]], bool]:
        if on_list is not None:
            on_list()
        if account is not None:
            return gateway.connect.list_events_page(
                account, created_gte=gte, created_lt=lt, starting_after=after, limit=page_size
            )
        return gateway.list_events_page(created_gte=gte, created_lt=lt, starting_after=after, limit=page_size)

    def window(gte: int, lt: int) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        items, more = page(gte, lt)
        if not more:
            yield _oldest_first(items), lt
            return
        if lt - gte <= 1:
            while more:
                extra, more = page(gte, lt, str(items[-1]["id"]))
                items.extend(extra)
            yield _oldest_first(items), lt
            return
        middle = gte + (lt - gte) // 2
        yield from window(gte, middle)
        yield from window(middle, lt)

    start = since
    while True:
        # The open end: whatever exists from `start` on. If it is more than a page, close a
        # window at the newest time seen (or now) and look past it again.
        items, more = page(start, None)
        if not more:
            yield _oldest_first(items), None
            return
        end = max([now, *(_created(e) for e in items)]) + 1
        yield from window(start, end)
        start = end


def _created(event: dict[str, Any]) -> int:
    created = event.get("created")
    return created if isinstance(created, int) else 0


def _oldest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Stripe lists newest first; among equal `created`, its order is kept reversed.
    return sorted(reversed(items), key=_created)


def kept_cursor(sessions: sessionmaker[Session]) -> int | None:
    with sessions() as session:
        row = cursors.find(session, CURSOR)
        return row.stripe_time if row is not None else None


@dataclass
class Scan:
    """A scan under way: everything created before `position` is done. `started` (local
    time) is what the kept cursor becomes, less the overlap, once the scan is complete."""

    since: int
    position: int
    started: int
    covers_cursor: bool  # began at or before the kept cursor, so it may move it


def start_scan(sessions: sessionmaker[Session], *, since: int | None, lookback: int) -> Scan:
    """A scan from `since` (default: the kept cursor, or `lookback` seconds ago)."""
    started = int(time.time())
    stored = kept_cursor(sessions)
    if since is None:
        since = stored if stored is not None else started - lookback
    return Scan(since=since, position=since, started=started, covers_cursor=stored is None or since <= stored)


def recover_events(
    sessions: sessionmaker[Session],
    gateway: StripeGateway,
    *,
    since: int | None,
    expected_livemode: bool,
    overlap: int,
    lookback: int,
    holder: str | None = None,
    page_size: int = PAGE_SIZE,
    max_lists: int | None = None,
    resume: Scan | None = None,
    on_stored: Callable[[], None] | None = None,
) -> RecoveryReport:
    """Store every event created since `since` (default: the kept cursor, or `lookback`
    seconds ago) that the inbox lacks, and move the kept cursor when this scan covered it.
    `holder`: the lease this scan runs under (renewed as it goes). `max_lists`: stop at the
    first window boundary after that many list requests; the report's `scan` continues it
    (`resume=`) and `complete` says whether anything is left. `on_stored`: called after each
    page that stored events (a worker in this process rings itself)."""
    scan = resume or start_scan(sessions, since=since, lookback=lookback)
    report = RecoveryReport(since=scan.since, cursor=kept_cursor(sessions), scan=scan)

    def count_call() -> None:
        report.list_calls += 1

    batches = events_oldest_first(gateway, scan.position, now=int(time.time()), page_size=page_size, on_list=count_call)
    for batch, window_end in batches:
        new_rows = _store_missing(sessions, batch, report, expected_livemode=expected_livemode)
        # Everything created before the window's end is stored now (the open end: before the start).
        reached = scan.started if window_end is None else min(window_end, scan.started)
        with sessions() as session:
            if scan.covers_cursor and cursors.advance_time(session, CURSOR, reached - overlap):
                report.cursor = reached - overlap
            if holder is not None:
                cursors.renew_lease(session, CURSOR, holder=holder, seconds=LEASE_SECONDS)
            session.commit()
        for row in new_rows:
            note_mismatches(row)
        if new_rows:
            RECOVERY_EVENTS_STORED.inc(len(new_rows))
            if on_stored is not None:
                on_stored()
        if window_end is None:
            report.complete = True
        else:
            scan.position = window_end
            if max_lists is not None and report.list_calls >= max_lists:
                break
    if report.complete:
        _recover_connected(
            sessions,
            gateway,
            scan.since,
            report,
            expected_livemode=expected_livemode,
            page_size=page_size,
            on_stored=on_stored,
        )
    report.cursor = kept_cursor(sessions)
    return report


def _recover_connected(
    sessions: sessionmaker[Session],
    gateway: StripeGateway,
    since: int,
    report: RecoveryReport,
    *,
    expected_livemode: bool,
    page_size: int,
    on_stored: Callable[[], None] | None,
) -> None:
    """The same scan over each seller's connected account (Connect events happen on the
    account: `account.updated`, `payout.*`, `balance.available`), once the platform's is done."""
    with sessions() as session:
        accounts = sellers.account_ids(session)

    def count_call() -> None:
        report.list_calls += 1

    for account in accounts:
        report.connected_accounts += 1
        batches = events_oldest_first(
            gateway, since, now=int(time.time()), page_size=page_size, on_list=count_call, account=account
        )
        for batch, _ in batches:
            new_rows = _store_missing(sessions, batch, report, expected_livemode=expected_livemode)
            for row in new_rows:
                note_mismatches(row)
            if new_rows:
                RECOVERY_EVENTS_STORED.inc(len(new_rows))
                if on_stored is not None:
                    on_stored()


def _store_missing(
    sessions: sessionmaker[Session],
    batch: list[dict[str, Any]],
    report: RecoveryReport,
    *,
    expected_livemode: bool,
) -> list[store.NewEvent]:
    """Store the batch's events the inbox lacks, in one transaction; the rows stored."""
    report.seen += len(batch)
    ids = [str(e["id"]) for e in batch]
    stored: list[store.NewEvent] = []
    with sessions() as session:
        have = set(session.scalars(select(WebhookEvent.id).where(WebhookEvent.id.in_(ids)))) if ids else set()
        for event in batch:
            if event["id"] in have:
                report.already_had += 1
                continue
            have.add(str(event["id"]))
            row = store.new_event(json.dumps(event), event, expected_livemode=expected_livemode)
            if not store.store(session, row):
                report.already_had += 1  # delivered while this scan ran
                continue
            stored.append(row)
        session.commit()
    for row in stored:
        report.stored += 1
        if row.state == "livemode_mismatch":
            report.livemode_mismatch += 1
        if row.api_version and row.api_version != PINNED_API_VERSION:
            report.api_version_mismatch += 1
    return stored


class ScheduledRecovery:
    """The worker's recovery schedule: `tick()` after each round of the loop. Cheap when not
    due (a clock check; then one UPDATE every quarter interval). A scan does at most
    `lists_per_tick` list requests per tick and continues at the next one, so a long scan
    (the first one, or after an outage) never holds up the worker's events for long. The
    first scan waits one interval after start: deliveries of a fresh start arrive on their own."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        gateway: StripeGateway,
        *,
        holder: str,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = PAGE_SIZE,
        lists_per_tick: int = LISTS_PER_TICK,
        on_stored: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_stored = on_stored
        self.sessions = sessions
        self.gateway = gateway
        self.holder = holder
        self.interval = settings.recovery_interval
        self.page_size = page_size
        self.lists_per_tick = lists_per_tick
        self._clock = clock
        self._check_every = min(self.interval, max(1.0, self.interval / 4))
        self._next_check = clock() + self.interval
        self._scan: Scan | None = None  # a scan this worker holds the lease for, not finished

    def tick(self) -> RecoveryReport | None:
        """Scan (a part of a scan) if due and no other process is scanning. Never raises: a
        failed scan is logged, counted and tried again at the next check."""
        if self.interval <= 0:
            return None
        if self._scan is not None:
            return self._continue()
        if self._clock() < self._next_check:
            return None
        self._next_check = self._clock() + self._check_every
        return self.run_if_due(lists=self.lists_per_tick)

    def run_if_due(self, *, lists: int | None = None) -> RecoveryReport | None:
        """Start a scan now if the last complete scan (by any process) is older than the
        interval and no other process is scanning; `lists`: this call's budget (None: the
        whole scan)."""
        try:
            with self.sessions() as session:
                due_before = utcnow() - timedelta(seconds=self.interval)
                taken = cursors.take_lease(
                    session, CURSOR, holder=self.holder, seconds=LEASE_SECONDS, due_before=due_before
                )
                session.commit()
        except Exception:
            log.exception("recovery: could not check the schedule")
            return None
        if not taken:
            return None
        return self._run(None, lists)

    def _continue(self) -> RecoveryReport | None:
        try:
            with self.sessions() as session:
                kept = cursors.renew_lease(session, CURSOR, holder=self.holder, seconds=LEASE_SECONDS)
                session.commit()
        except Exception:
            log.exception("recovery: could not renew the lease; the scan continues at the next check")
            return None
        if not kept:
            log.warning("recovery: the lease ran out and was taken over; another worker scans")
            self._scan = None
            return None
        return self._run(self._scan, self.lists_per_tick)

    def _run(self, resume: Scan | None, lists: int | None) -> RecoveryReport | None:
        try:
            report = recover_events(
                self.sessions,
                self.gateway,
                since=None,
                expected_livemode=self.settings.livemode,
                overlap=self.settings.recovery_overlap,
                lookback=self.settings.recovery_lookback,
                holder=self.holder,
                page_size=self.page_size,
                max_lists=lists,
                resume=resume,
                on_stored=self.on_stored,
            )
        except Exception:
            RECOVERY_RUNS.labels(outcome="failed").inc()
            log.exception("recovery: scan of /v1/events failed; trying again at the next check")
            self._scan = None
            self._release(scanned=False)
            return None
        if not report.complete:
            self._scan = report.scan  # the lease stays ours; the next tick continues
            return report
        self._scan = None
        self._release(scanned=True)
        RECOVERY_RUNS.labels(outcome="completed").inc()
        log.log(
            logging.WARNING if report.stored else logging.INFO,
            "recovery: since=%d %s list_calls=%d cursor=%s",
            report.since,
            report.summary(),
            report.list_calls,
            report.cursor,
        )
        return report

    def _release(self, *, scanned: bool) -> None:
        try:
            with self.sessions() as session:
                cursors.release_lease(session, CURSOR, holder=self.holder, scanned=scanned)
                session.commit()
        except Exception:
            log.exception("recovery: could not release the lease (it runs out by itself)")
