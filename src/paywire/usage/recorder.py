"""Recording usage: check each event, store the good ones durably, answer at once.

`UsageRecorder.record_many(events)` (and `arecord_many` for the event loop) checks every event
on its own (`paywire.usage.events` for its fields, the user's usage account for their customer
and metered item, the customer's time for its timestamp), stores the accepted ones through the
group-commit writer and returns what became of each: accepted, duplicate (its identifier was
recorded before: a retried call) or refused with the reason. Nothing is stored for a refused
event, and nothing here waits for Stripe: the sender (`paywire.usage.sender`) takes the table
from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from paywire.catalog import Catalog
from paywire.config import Settings
from paywire.db.engine import make_session_factory
from paywire.metrics import USAGE_EVENTS
from paywire.stripe import StripeGateway
from paywire.usage import events as checks
from paywire.usage import store
from paywire.usage.accounts import UsageAccount, UsageAccounts
from paywire.usage.allowance import AllowanceCache
from paywire.usage.events import Refusal, Refused, UsageInput
from paywire.usage.reconcile import Reconciler
from paywire.usage.store import NewUsage
from paywire.usage.writer import UsageWriter


class _NeedsMirror(Exception):
    """An event the kept accounts cannot decide."""


class UsageRefused(Exception):
    """`record` of one event that was refused; `refusal` says why."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.code}: {refusal.message}")
        self.refusal = refusal


@dataclass(frozen=True)
class Recorded:
    """What became of each event of a call, in order (`statuses`: accepted, duplicate or
    refused; `identifiers`: each event's, None for a refused one without one)."""

    statuses: list[str]
    identifiers: list[str | None]
    refused: list[Refusal] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.statuses.count("accepted")

    @property
    def duplicates(self) -> int:
        return self.statuses.count("duplicate")

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "refused": [r.as_dict() for r in self.refused],
            "events": [
                {"identifier": identifier, "status": status}
                for identifier, status in zip(self.identifiers, self.statuses, strict=True)
            ],
        }


@dataclass(frozen=True)
class Prepared:
    accepted: list[NewUsage]
    positions: list[int]  # the index of each accepted event in the call
    identifiers: list[str | None]
    refused: list[Refusal]


class UsageRecorder:
    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        settings: Settings,
        *,
        sessions: sessionmaker[Session] | None = None,
        writer: UsageWriter | None = None,
        on_stored: Callable[[int], None] | None = None,
        gateway: StripeGateway | None = None,
    ) -> None:
        """`gateway`: to compare shown usage with Stripe's summaries (`paywire.usage.reconcile`)."""
        self.engine = engine
        self.catalog = catalog
        self.settings = settings
        self.sessions = sessions or make_session_factory(engine)
        self.accounts = UsageAccounts(catalog, settings, size=max(1, settings.entitlement_cache_size))
        self.allowances = AllowanceCache(max(0.1, settings.entitlement_max_staleness or 1.0))
        self._on_stored = on_stored
        self.writer = writer or UsageWriter(engine, on_stored=self._stored)
        self.reconciler = (
            Reconciler(gateway, catalog, settings.usage_reconcile_interval) if gateway is not None else None
        )

    def _stored(self, count: int) -> None:
        if self._on_stored is not None:
            self._on_stored(count)

    def wake_on_store(self, callback: Callable[[int], None]) -> None:
        """Call `callback` with how many calls shared the commit after each commit of new usage
        (to wake a sender in this process, or ask the workers to hold off during a burst)."""
        self._on_stored = callback

    def record(
        self,
        user_id: str,
        meter: str,
        value: int = 1,
        identifier: str | None = None,
        timestamp: int | None = None,
        *,
        request_key: str | None = None,
    ) -> str:
        """Record one event; its identifier (the given one, or the one derived or made for
        it). A retried call is the same event. `UsageRefused` says why it was not recorded."""
        event: dict[str, Any] = {"user_id": user_id, "meter": meter, "value": value}
        if identifier is not None:
            event["identifier"] = identifier
        if timestamp is not None:
            event["timestamp"] = timestamp
        recorded = self.record_many([event], request_key=request_key)
        if recorded.refused:
            raise UsageRefused(recorded.refused[0])
        found = recorded.identifiers[0]
        assert found is not None
        return found

    def record_many(self, events: Sequence[Any], *, request_key: str | None = None) -> Recorded:
        """Record a batch (at most `MAX_BATCH` events), each accepted or refused on its own."""
        prepared = self.prepare(events, request_key=request_key)
        stored = self.writer.write(prepared.accepted) if prepared.accepted else set()
        return self._outcome(len(events), prepared, stored)

    async def arecord_many(self, events: Sequence[Any], *, request_key: str | None = None) -> Recorded:
        """`record_many` for the event loop: checked on the loop when every user's account was
        checked within the entitlement cache's bound (no query), else in a thread (which may
        read the mirror); the writer answers through the loop."""
        prepared = self.prepare_kept(events, request_key=request_key)
        if prepared is None:
            prepared = await asyncio.to_thread(self.prepare, events, request_key=request_key)
        stored = await self.writer.awrite(prepared.accepted) if prepared.accepted else set()
        return self._outcome(len(events), prepared, stored)

    def _outcome(self, count: int, prepared: Prepared, stored: set[str]) -> Recorded:
        statuses = ["refused"] * count
        for position, event in zip(prepared.positions, prepared.accepted, strict=True):
            statuses[position] = "accepted" if event.identifier in stored else "duplicate"
        accepted = statuses.count("accepted")
        if accepted:
            USAGE_EVENTS.labels(outcome="accepted").inc(accepted)
            self.allowances.forget_users({e.user_id for e in prepared.accepted})
        if statuses.count("duplicate"):
            USAGE_EVENTS.labels(outcome="duplicate").inc(statuses.count("duplicate"))
        for refusal in prepared.refused:
            USAGE_EVENTS.labels(outcome=f"refused_{refusal.code}").inc()
        return Recorded(statuses, prepared.identifiers, prepared.refused)

    def prepare(self, events: Sequence[Any], *, request_key: str | None = None) -> Prepared:
        """Check every event (blocking: it may read the mirror)."""
        with self.sessions() as session:
            return self._prepare(events, request_key, lambda event: self._account_for(session, event))

    def prepare_kept(self, events: Sequence[Any], *, request_key: str | None = None) -> Prepared | None:
        """Check every event from the accounts kept and recently checked (no query); None when
        one needs the mirror (an account not kept, or one that would refuse the event)."""

        def kept(event: UsageInput) -> UsageAccount:
            account = self.accounts.peek(event.user_id)
            if account is None or account.customer_id is None or account.item_for(event.meter.event) is None:
                raise _NeedsMirror
            if account.clock_time is not None:
                raise _NeedsMirror  # a test clock's time: its latest, for the event's time
            return account

        try:
            return self._prepare(events, request_key, kept, kept_only=True)
        except _NeedsMirror:
            return None

    def _prepare(
        self,
        events: Sequence[Any],
        request_key: str | None,
        account_for: Callable[[UsageInput], UsageAccount],
        *,
        kept_only: bool = False,
    ) -> Prepared:
        if len(events) > checks.MAX_BATCH:
            raise ValueError(f"at most {checks.MAX_BATCH} events a call")
        accepted: list[NewUsage] = []
        positions: list[int] = []
        identifiers: list[str | None] = []
        refused: list[Refusal] = []
        for index, raw in enumerate(events):
            given = raw.get("identifier") if isinstance(raw, dict) else None
            try:
                parsed = checks.parse_event(raw, self.catalog)
                event = self._check(account_for(parsed), parsed, request_key=request_key, index=index)
            except Refused as why:
                if kept_only and why.code == checks.TIMESTAMP_OUT_OF_WINDOW:
                    raise _NeedsMirror from None  # decided on the customer's time as the mirror has it
                shown = given if isinstance(given, str) and len(given) <= checks.MAX_IDENTIFIER_LENGTH else None
                refused.append(Refusal(index, why.code, why.message, why.field, shown))
                identifiers.append(shown)
                continue
            accepted.append(event)
            positions.append(index)
            identifiers.append(event.identifier)
        return Prepared(accepted, positions, identifiers, refused)

    def _check(self, account: UsageAccount, event: UsageInput, *, request_key: str | None, index: int) -> NewUsage:
        timestamp = checks.check_timestamp(event.timestamp, account.now())
        identifier = event.identifier or checks.derive_identifier(event, request_key=request_key, index=index)
        assert account.customer_id is not None
        return NewUsage(
            identifier=identifier,
            user_id=event.user_id,
            stripe_customer_id=account.customer_id,
            meter=event.meter.event,
            value=event.value,
            timestamp=timestamp,
        )

    def _account_for(self, session: Session, event: UsageInput) -> UsageAccount:
        """The user's account, refusing a user with no customer or no metered item on the
        meter; a refusal is decided from the mirror, never from a kept account."""
        account = self.accounts.account(session, event.user_id)
        if account.customer_id is None or account.item_for(event.meter.event) is None:
            account = self.accounts.account(session, event.user_id, fresh=True)
        if account.customer_id is None:
            raise Refused(
                checks.NO_CUSTOMER, f"User {event.user_id!r} has no billing account (no customer).", "user_id"
            )
        if account.item_for(event.meter.event) is None:
            raise Refused(
                checks.NO_METERED_ITEM,
                f"User {event.user_id!r} has no subscription billing {event.meter.event!r} (no metered item).",
                "meter",
            )
        return account

    def cancel(self, identifier: str) -> str:
        """Cancel a recorded event within 24 hours (see `store.request_cancel`); the event's
        state afterwards, or `not_found` / `too_late`."""
        with self.sessions() as session:
            outcome = store.request_cancel(session, identifier)
            found = store.find(session, identifier)
            session.commit()
        if found is not None and outcome in ("canceled", "cancel_pending"):
            self.allowances.forget_users({found.user_id})
            self._stored(1)
        return outcome

    def close(self) -> None:
        self.writer.close()
