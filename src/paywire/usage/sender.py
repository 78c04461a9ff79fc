"""The sender: pushes recorded usage to Stripe, and Stripe's answers back into the table.

Each round claims the due events (oldest first, under a lease) and sends them:
- with volume (at least PAYWIRE_USAGE_STREAM_THRESHOLD waiting) on the meter event stream, in
  batches of 100 (a session opened once per 15 minutes); Stripe checks them afterwards and
  reports refused ones as thin events, which `poll_error_reports` reads (v2 events) and applies:
  the events named become `failed`, every error is counted;
- otherwise one `/v1/billing/meter_events` request an event, concurrently across customers and
  meters but never two at once for the same customer and meter (Stripe's rule); Stripe refuses
  a bad event there and then (`failed`, with its reason).
Requests are paced (PAYWIRE_USAGE_RATE_LIMIT a second). A batch Stripe could not take (down,
rate limited after the client's own backoff) is due again after an exponential backoff; usage
is never given up on. Events are marked `sent` after Stripe answered: a sender that dies
between the two leaves them claimed until the lease ends, and whoever sends them again sends the
same identifiers, which Stripe drops (v1 refuses them on `identifier`, taken here as sent).

Cancellations (`cancel_pending`) get their meter event adjustment; every second, the soft
limits of the users and meters sent meanwhile are checked and their notices recorded in the
outbox.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from paywire import crashpoints
from paywire.catalog import Catalog, load_catalog
from paywire.config import Settings
from paywire.db.engine import make_engine, make_session_factory
from paywire.db.leases import RetryPolicy
from paywire.db.models import utcnow
from paywire.metrics import (
    USAGE_CANCELED,
    USAGE_LAG_SECONDS,
    USAGE_PENDING,
    USAGE_REFUSED_BY_STRIPE,
    USAGE_SEND_FAILURES,
    USAGE_SENT,
    USAGE_STRIPE_REQUESTS,
)
from paywire.outbox import record as record_facts
from paywire.stripe import StripeError, StripeGateway, StripeRejected, StripeUnavailable
from paywire.stripe.budget import Priority, at_priority
from paywire.stripe.metering import STREAM_BATCH, MeterEvent, MeterSessionExpired, StreamSession, iso, parse_iso
from paywire.usage import store
from paywire.usage.accounts import UsageAccounts
from paywire.usage.allowance import THRESHOLDS, meter_usage, priced, threshold_facts
from paywire.usage.store import ClaimedUsage

log = logging.getLogger("paywire.usage.sender")
T = TypeVar("T")
R = TypeVar("R")

SESSION_MARGIN_SECONDS = 60.0  # a session this close to its end is renewed first
REPORT_OVERLAP_SECONDS = 60.0  # error reports are listed again this far back (late-visible ones)
LOOP_ERROR_PAUSE_SECONDS = 2.0
# After streaming, the stream stays the way for this long (volume comes in waves), and a last
# batch of fewer than 100 events waits this long to be filled before it leaves.
STREAMING_SECONDS = 5.0
# How the sender obeys the receiver's holds (as the events worker does, paywire.events.hold).
HOLD_MAX_SECONDS = 2.0
HOLD_BREAK_SECONDS = 0.5
HOLD_STEP_SECONDS = 0.05
# Soft limits' thresholds are looked at this often (for the users and meters sent meanwhile).
THRESHOLD_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class SenderOptions:
    interval: float = 0.5  # how often an idle sender looks for usage
    stream_threshold: int = 20  # waiting events from which the stream is used
    claim_limit: int = 2000
    lease_seconds: float = 60.0
    rate_limit: float = 100.0  # requests a second to Stripe
    error_poll_interval: float = 30.0
    v1_threads: int = 4
    stream_threads: int = 3  # stream requests in flight at once
    tail_hold_seconds: float = 0.5  # a last batch of fewer than 100 waits this long to be filled
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_seconds=1.0, cap_seconds=300.0))

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderOptions:
        return cls(
            interval=settings.usage_send_interval,
            stream_threshold=settings.usage_stream_threshold,
            rate_limit=settings.usage_rate_limit,
            error_poll_interval=settings.usage_error_poll_interval,
            lease_seconds=settings.usage_lease_seconds,
        )


class Pace:
    """At most `rate` requests a second, across threads (a token bucket holding one second)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                pause = (1 - self._tokens) / self.rate
            time.sleep(pause)


def _in_context(fn: Callable[[T], R]) -> Callable[[T], R]:
    """`fn` run in a copy of this thread's context (its budget priority) in a pool's threads."""
    context = contextvars.copy_context()
    return lambda arg: context.copy().run(fn, arg)


def meter_event(row: ClaimedUsage, customer_key: str, value_key: str) -> MeterEvent:
    return MeterEvent(
        event_name=row.meter,
        identifier=row.identifier,
        timestamp=row.timestamp,
        payload={customer_key: row.stripe_customer_id, value_key: str(row.value)},
    )


class UsageSender:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: StripeGateway,
        catalog: Catalog,
        settings: Settings,
        options: SenderOptions | None = None,
        held_for: Callable[[], float] | None = None,
    ) -> None:
        """`held_for`: seconds the receiver still asks the workers to hold off (a burst of
        webhooks or usage being acknowledged: the sender pauses too, within bounds)."""
        self.sessions = sessions
        self._held_for = held_for
        self._held_since: float | None = None
        self.gateway = gateway
        self.catalog = catalog
        self.settings = settings
        self.options = options or SenderOptions.from_settings(settings)
        self.worker_id = f"usage-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.accounts = UsageAccounts(catalog, settings, size=10_000)
        self.pace = Pace(self.options.rate_limit)
        self._session: StreamSession | None = None
        self._session_lock = threading.Lock()
        self._wake = threading.Event()
        self._errors_at = time.monotonic()  # error reports lag the stream: the first read after one interval
        self._payload_keys = {m.event: (m.customer_key, m.value_key) for m in catalog.meters.values()}
        self._formulas = {m.event: m.formula for m in catalog.meters.values()}
        self._told: set[tuple[str, str, int]] = set()  # (user, meter, period): every notice recorded
        # (user, meter) sent since the last check -> what those events add (their values; 1 each
        # for a `count` meter).
        self._unchecked: dict[tuple[str, str], int] = {}
        # (user, meter, period) -> (used when last read, added by what was sent since): a bound
        # on the usage now, so the table is read again only when a threshold may be crossed.
        self._bounds: dict[tuple[str, str, int], tuple[int, int]] = {}
        self._thresholds_at = float("-inf")
        self._streamed_at = float("-inf")

    def wake(self, _: int = 0) -> None:
        """New usage is waiting (the recorder in this process calls it after each commit)."""
        self._wake.set()

    def pause(self) -> float:
        """How long to wait before the next round while the receiver asks for a hold: at most
        `HOLD_MAX_SECONDS` in a row, then `HOLD_BREAK_SECONDS` of work whatever it asks."""
        held = self._held_for() if self._held_for is not None else 0.0
        now = time.monotonic()
        if held <= 0:
            self._held_since = None
            return 0.0
        if self._held_since is None or now - self._held_since >= HOLD_MAX_SECONDS + HOLD_BREAK_SECONDS:
            self._held_since = now
        if now - self._held_since >= HOLD_MAX_SECONDS:
            return 0.0
        return min(held, HOLD_STEP_SECONDS)

    def run(self, stop_event: threading.Event) -> None:
        with at_priority(Priority.BACKGROUND):  # its few API calls leave the budget to people first
            self._run(stop_event)

    def _run(self, stop_event: threading.Event) -> None:
        log.info("usage sender %s started", self.worker_id)
        while not stop_event.is_set():
            if (pause := self.pause()) > 0:
                stop_event.wait(pause)
                continue
            try:
                busy = self.run_once()
            except Exception:
                log.exception("usage sender round failed")
                stop_event.wait(LOOP_ERROR_PAUSE_SECONDS)
                continue
            if not busy:
                self._wake.wait(self.options.interval)
                self._wake.clear()

    def run_once(self) -> int:
        """One round: send, cancel, and (when due) read error reports. How many events moved."""
        moved = self.send_once() + self.cancel_once()
        if self._unchecked and time.monotonic() - self._thresholds_at >= THRESHOLD_CHECK_INTERVAL:
            self._check_thresholds()
        if time.monotonic() - self._errors_at >= self.options.error_poll_interval:
            self.poll_error_reports()
            with self.sessions() as session:
                USAGE_PENDING.set(store.depth(session).get("pending", 0))
        return moved

    # Sending ----------------------------------------------------------------------------------

    def send_once(self) -> int:
        with self.sessions() as session:
            rows = store.claim(
                session,
                state="pending",
                worker_id=self.worker_id,
                limit=self.options.claim_limit,
                lease_seconds=self.options.lease_seconds,
            )
        if not rows:
            return 0
        now = time.monotonic()
        if len(rows) >= self.options.stream_threshold or now - self._streamed_at < STREAMING_SECONDS:
            self._streamed_at = now
            rows = self._full_batches(rows)
            self._stream(rows)
        else:
            self._send_v1(rows)
        self._note_sent(rows)
        return len(rows)  # what left (a tail held back is not: the loop waits for more)

    def _event(self, row: ClaimedUsage) -> MeterEvent:
        customer_key, value_key = self._payload_keys.get(row.meter, ("stripe_customer_id", "value"))
        return meter_event(row, customer_key, value_key)

    def _full_batches(self, rows: list[ClaimedUsage]) -> list[ClaimedUsage]:
        """At volume, the last batch waits to be filled: a tail of fewer than 100 events whose
        oldest was recorded less than `tail_hold_seconds` ago goes back, to leave with the next
        round's (so, at volume, one request carries 100 events); an older tail leaves as it is."""
        tail = len(rows) % STREAM_BATCH
        hold = timedelta(seconds=self.options.tail_hold_seconds)
        if not tail or utcnow() - rows[len(rows) - tail].recorded_at >= hold:
            return rows
        kept, back = rows[: len(rows) - tail], rows[len(rows) - tail :]
        with self.sessions() as session:
            store.release(session, [r.id for r in back], worker_id=self.worker_id)
            session.commit()
        return kept

    def _stream(self, rows: Sequence[ClaimedUsage]) -> None:
        """Batches of 100 on the stream, a few requests in flight at once (their order does
        not matter to Stripe: each event carries its time)."""
        chunks = [rows[start : start + STREAM_BATCH] for start in range(0, len(rows), STREAM_BATCH)]
        threads = max(1, min(self.options.stream_threads, len(chunks)))
        if threads == 1:
            for chunk in chunks:
                self._stream_one(chunk)
            return
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="paywire-usage-stream") as pool:
            list(pool.map(_in_context(self._stream_one), chunks))

    def _stream_one(self, chunk: Sequence[ClaimedUsage]) -> None:
        try:
            self._stream_chunk(chunk)
        except StripeRejected as exc:
            # The request as a whole was refused (it should not be): each event on its own.
            log.warning("usage stream refused a batch (%s); sending it one event a request", exc.message)
            self._send_v1(chunk)
            return
        except StripeError as exc:
            self._retry(chunk, f"stream: {exc.message}")
            return
        self._mark_sent(chunk, "stream")

    def _stream_chunk(self, chunk: Sequence[ClaimedUsage]) -> None:
        events = [self._event(row) for row in chunk]
        for attempt in range(2):
            session = self._stream_session()
            self.pace.wait()
            USAGE_STRIPE_REQUESTS.labels(kind="stream").inc()
            try:
                self.gateway.metering.stream(session, events)
                return
            except MeterSessionExpired:
                self._session = None
                if attempt:
                    raise

    def _stream_session(self) -> StreamSession:
        with self._session_lock:
            if self._session is None or self._session.expires_at - time.time() < SESSION_MARGIN_SECONDS:
                self.pace.wait()
                USAGE_STRIPE_REQUESTS.labels(kind="session").inc()
                self._session = self.gateway.metering.open_session()
            return self._session

    def _send_v1(self, rows: Sequence[ClaimedUsage]) -> None:
        """One request an event; one customer and meter's events in order, never two at once."""
        lanes: dict[tuple[str, str], list[ClaimedUsage]] = {}
        for row in rows:
            lanes.setdefault((row.stripe_customer_id, row.meter), []).append(row)
        threads = max(1, min(self.options.v1_threads, len(lanes)))
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="paywire-usage-v1") as pool:
            outcomes = list(pool.map(_in_context(self._send_lane), lanes.values()))
        results = [pair for lane in outcomes for pair in lane]
        sent = [row for row, result in results if result is None]
        refused = [(row, result) for row, result in results if isinstance(result, StripeRejected)]
        failed = [(row, r) for row, r in results if r is not None and not isinstance(r, StripeRejected)]
        self._mark_sent(sent, "v1")
        if refused:
            with self.sessions() as session:
                for row, exc in refused:
                    USAGE_SEND_FAILURES.labels(reason="refused").inc()
                    store.mark_failed(session, row.id, worker_id=self.worker_id, error=f"{exc.param}: {exc.message}")
                session.commit()
        if failed:
            self._retry([row for row, _ in failed], f"v1: {failed[0][1].message}")

    def _send_lane(self, lane: list[ClaimedUsage]) -> list[tuple[ClaimedUsage, StripeError | None]]:
        results: list[tuple[ClaimedUsage, StripeError | None]] = []
        for i, row in enumerate(lane):
            self.pace.wait()
            USAGE_STRIPE_REQUESTS.labels(kind="v1").inc()
            try:
                self.gateway.metering.send(self._event(row))
            except StripeRejected as exc:
                results.append((row, exc))
            except StripeError as exc:
                # Stripe is not answering: the rest of this lane waits too (keeps their order).
                results += [(r, exc) for r in lane[i:]]
                break
            else:
                results.append((row, None))
        return results

    def _mark_sent(self, rows: Sequence[ClaimedUsage], via: str) -> None:
        if not rows:
            return
        crashpoints.reached("usage_sent_before_record")
        now = utcnow()
        with self.sessions() as session:
            recorded = store.mark_sent(session, [r.id for r in rows], worker_id=self.worker_id, via=via, now=now)
            session.commit()
        USAGE_SENT.labels(via=via).inc(len(rows))
        for recorded_at in recorded:
            USAGE_LAG_SECONDS.observe(max(0.0, (now - recorded_at).total_seconds()))

    def _retry(self, rows: Sequence[ClaimedUsage], error: str) -> None:
        attempts = max(r.attempts for r in rows) + 1
        delay = self.options.retry.delay(attempts)
        USAGE_SEND_FAILURES.labels(reason="unavailable").inc(len(rows))
        log.warning("usage: %d event(s) not sent (%s); again in %.1fs", len(rows), error, delay)
        with self.sessions() as session:
            store.retry_later(session, rows, worker_id=self.worker_id, error=error, delay=delay)
            session.commit()

    # Limits -----------------------------------------------------------------------------------

    def _note_sent(self, rows: Sequence[ClaimedUsage]) -> None:
        for row in rows:
            pair = (row.user_id, row.meter)
            added = row.value if self._formulas.get(row.meter, "sum") == "sum" else 1
            self._unchecked[pair] = self._unchecked.get(pair, 0) + added

    def _check_thresholds(self) -> None:
        """Soft limits' notices for the users and meters sent since the last check (each once
        per period; a period whose last notice is recorded is not looked at again here).

        The table is read for a user and meter only when a threshold may have been crossed: what
        was used when it was last read plus everything sent since is a bound on what is used now
        (apart from events not sent yet, which come here when they are), so below the next
        threshold nothing is owed. A `last` meter is read each time."""
        self._thresholds_at = time.monotonic()
        pairs, self._unchecked = self._unchecked, {}
        if len(self._bounds) > 100_000:
            self._bounds.clear()
        try:
            with self.sessions() as session:
                facts = []
                for (user_id, meter), added in sorted(pairs.items()):
                    account = self.accounts.account(session, user_id)
                    item = account.item_for(meter)
                    found = priced(self.catalog, item) if item is not None else None
                    if item is None or found is None or found[1].limit != "soft" or not found[1].allowance:
                        continue
                    done = (user_id, meter, item.period_start)
                    if done in self._told:
                        continue
                    bound = self._bounds.get(done)
                    if bound is not None and self._formulas.get(meter) != "last":
                        used, since = bound[0], bound[1] + added
                        included = found[1].included_for(item.interval or "month")
                        owed = [t for t in THRESHOLDS if used * 100 < included * t]
                        if owed and (used + since) * 100 < included * owed[0]:
                            self._bounds[done] = (used, since)
                            continue
                    usage = meter_usage(session, self.catalog, account, item)
                    if usage is not None:
                        self._bounds[done] = (usage.used, 0)
                        owed_facts = threshold_facts(account, usage, item)
                        facts += owed_facts
                        if len(owed_facts) == len(THRESHOLDS):
                            self._told.add(done)
                if facts:
                    record_facts(session, facts)
                    session.commit()
        except Exception:
            log.exception("usage thresholds not checked (checked again with the next usage)")

    # Cancellations ----------------------------------------------------------------------------

    def cancel_once(self) -> int:
        with self.sessions() as session:
            rows = store.claim(
                session,
                state="cancel_pending",
                worker_id=self.worker_id,
                limit=100,
                lease_seconds=self.options.lease_seconds,
            )
        done: list[int] = []
        for row in rows:
            self.pace.wait()
            USAGE_STRIPE_REQUESTS.labels(kind="adjustment").inc()
            try:
                self.gateway.metering.cancel(
                    event_name=row.meter, identifier=row.identifier, idempotency_key=f"usage:cancel:{row.identifier}"
                )
            except StripeRejected as exc:
                log.warning("usage %s: Stripe would not cancel it: %s", row.identifier, exc.message)
                with self.sessions() as session:
                    store.mark_cancel_refused(session, row.id, worker_id=self.worker_id, error=exc.message)
                    session.commit()
                continue
            except StripeUnavailable as exc:
                self._retry([row], f"cancel: {exc.message}")
                continue
            done.append(row.id)
        if done:
            with self.sessions() as session:
                store.mark_canceled(session, done, worker_id=self.worker_id)
                session.commit()
            USAGE_CANCELED.labels(where="stripe").inc(len(done))
        return len(rows)

    # Error reports ----------------------------------------------------------------------------

    def poll_error_reports(self) -> int:
        """Read Stripe's error reports (thin events) since the last one kept; apply the new
        ones. How many were new."""
        self._errors_at = time.monotonic()
        with self.sessions() as session:
            latest = store.latest_report_created(session)
        since = iso(parse_iso(latest) - REPORT_OVERLAP_SECONDS) if latest else None
        USAGE_STRIPE_REQUESTS.labels(kind="error_reports").inc()
        try:
            reports = self.gateway.metering.error_reports(created_after=since)
        except StripeError as exc:
            log.warning("usage error reports not read: %s", exc.message)
            return 0
        new = 0
        with self.sessions() as session:
            for report in reports:
                row, errors = report_row(report)
                if not store.store_report(session, row):
                    continue
                new += 1
                marked = store.refused_by_report(session, errors)
                for code, count in row["codes"].items():
                    USAGE_REFUSED_BY_STRIPE.labels(code=code).inc(count)
                log.warning(
                    "Stripe refused %d usage event(s) (%s); %d identified here: %s",
                    row["error_count"],
                    ", ".join(f"{n} {code}" for code, n in row["codes"].items()),
                    marked,
                    row["summary"] or "",
                )
            session.commit()
        return new


def report_row(report: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The `usage_error_reports` row of a thin event, and the identifiers it names (why)."""
    data = report.get("data") if isinstance(report.get("data"), dict) else {}
    assert isinstance(data, dict)
    reason = data.get("reason") if isinstance(data.get("reason"), dict) else {}
    assert isinstance(reason, dict)
    codes: dict[str, int] = {}
    errors: dict[str, str] = {}
    for error_type in reason.get("error_types") or []:
        code = str(error_type.get("code"))
        codes[code] = codes.get(code, 0) + int(error_type.get("error_count") or 0)
        for sample in error_type.get("sample_errors") or []:
            identifier = (sample.get("request") or {}).get("identifier")
            if identifier:
                errors[str(identifier)] = f"{code}: {sample.get('error_message') or ''}"
    related = report.get("related_object") if isinstance(report.get("related_object"), dict) else None
    row: dict[str, Any] = {
        "id": str(report["id"]),
        "type": str(report.get("type")),
        "meter_id": str(related["id"]) if isinstance(related, dict) and related.get("id") else None,
        "created": str(report.get("created")),
        "error_count": int(reason.get("error_count") or sum(codes.values())),
        "codes": codes,
        "samples": errors,
        "summary": data.get("developer_message_summary"),
    }
    return row, errors


def build_sender(
    settings: Settings,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
    options: SenderOptions | None = None,
    held_for: Callable[[], float] | None = None,
) -> UsageSender:
    engine = engine or make_engine(settings.database_url)
    return UsageSender(
        make_session_factory(engine),
        gateway or StripeGateway.from_settings(settings),
        catalog or load_catalog(settings.catalog_path),
        settings,
        options,
        held_for=held_for,
    )


def start_sender_thread(
    settings: Settings,
    stop_event: threading.Event,
    *,
    engine: Engine | None = None,
    gateway: StripeGateway | None = None,
    catalog: Catalog | None = None,
    held_for: Callable[[], float] | None = None,
) -> tuple[UsageSender, threading.Thread]:
    """The sender in a daemon thread of this process, until `stop_event` is set (its own
    engine, disposed at the end, unless one is given)."""
    own = engine is None
    engine = engine or make_engine(settings.database_url)
    sender = build_sender(settings, engine=engine, gateway=gateway, catalog=catalog, held_for=held_for)

    def run() -> None:
        try:
            sender.run(stop_event)
        except Exception:
            log.exception("the usage sender stopped with an error")
        finally:
            if own:
                engine.dispose()

    thread = threading.Thread(target=run, name="paywire-usage-sender", daemon=True)
    thread.start()
    return sender, thread
