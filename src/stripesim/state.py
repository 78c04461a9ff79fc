"""The simulator's whole world: objects, time, events, idempotency, configuration.

Everything runs on one asyncio loop, so a handler sees and changes state atomically.
Records are stored in the API's own shape; a renderer per type fills in what Stripe
always embeds (a subscription item's price, an invoice's lines) when an object is shown.
"""

from __future__ import annotations

import bisect
import contextvars
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import orjson

from stripesim import API_VERSION, DEFAULT_HOST, DEFAULT_PORT
from stripesim.errors import NotFound
from stripesim.ids import new_id
from stripesim.shapes.reference import load as load_reference

Record = dict[str, Any]
Renderer = Callable[["State", Record], Record]

RENDERERS: dict[str, Renderer] = {}

# Type names as they appear in "No such …" messages.
KIND_NAMES = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "subscription": "subscription",
    "invoice": "invoice",
    "checkout.session": "checkout.session",
    "payment_intent": "payment_intent",
    "payment_method": "PaymentMethod",
    "test_helpers.test_clock": "test clock",
}

# Event names whose prefix is not the object's type.
EVENT_PREFIX = {
    "subscription": "customer.subscription",
    "discount": "customer.discount",
    "tax_id": "customer.tax_id",
    "dispute": "charge.dispute",
}

# The request an API call is serving, recorded on the events it causes.
current_request: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("current_request", default=None)


def renderer(object_type: str) -> Callable[[Renderer], Renderer]:
    def register(fn: Renderer) -> Renderer:
        RENDERERS[object_type] = fn
        return fn

    return register


def deep_copy(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


@dataclass
class WebhookFaults:
    duplicate_rate: float = 0.0  # probability a delivery is sent twice
    reorder_window_ms: int = 0  # deliveries are held and shuffled within this window
    delay_ms: int = 0  # every delivery waits this long first
    fail_first: int = 0  # the first N delivery attempts get a simulated failure (no request)
    failed_so_far: int = 0


@dataclass
class ApiFaults:
    error_500_rate: float = 0.0
    error_429_rate: float = 0.0
    fail_next_500: int = 0  # the next N API requests answer 500
    fail_next_429: int = 0
    fail_next_409: int = 0  # the next N API requests answer 409 lock_timeout (a concurrent update)
    delay_ms: int = 0  # every API request waits this long first (timeouts on the client side)


@dataclass
class SimConfig:
    # Smart retries for failed invoice payments: days after the first failure of each retry, as
    # Stripe's recommended default (8 tries within 2 weeks: the first attempt and 7 retries).
    invoice_retry_days: list[float] = field(default_factory=lambda: [1, 3, 5, 7, 9, 11, 14])
    # What happens to a subscription when retries are exhausted: canceled | unpaid | past_due
    subscription_after_retries: str = "canceled"
    # Webhook retry backoff: first retry after this many seconds, doubling, for up to 3 days.
    webhook_retry_base_s: float = 5.0
    webhook_retry_max_s: float = 3600.0
    webhook_retry_for_s: float = 3 * 24 * 3600.0
    webhook_timeout_s: float = 10.0
    automatic_tax_percent: float = 10.0  # the simulated flat rate of automatic_tax
    rate_limit_per_s: float = 0.0  # 0 = off; per API key. Stripe's test mode allows 25/s, live 100/s
    rate_limit_search_per_s: float = 0.0  # 0 = off; Stripe allows 20/s on the search endpoints
    rate_limit_refill: bool = True  # False stops the limiter's clock: spent requests do not come back
    dispute_delay_s: int = 60  # 4000000000000259: a dispute opens this long after the charge
    dispute_response_days: int = 7  # a dispute's evidence is due this long after it opened
    # A refund that Stripe settles later (4000000000007726: pending → succeeded; 4000000000005126:
    # succeeded → failed) does so this long after it was made.
    refund_settle_s: int = 30
    events_kept_s: int = 30 * 24 * 3600
    checkout_expires_s: int = 24 * 3600
    upcoming_invoice_days: float = 3.0  # invoice.upcoming this long before a renewal; 0 = off
    # Connect: a connected account's funds from a payment become available this long after it
    # (Stripe's standard for US card payments is 2 days); an automatic payout of what is
    # available follows this long after (0 = no automatic payouts); a payout arrives (paid or
    # failed) this long after it was created; an account link can be opened this long.
    connect_available_after_s: int = 2 * 24 * 3600
    connect_payout_after_s: int = 24 * 3600
    connect_payout_arrives_after_s: int = 24 * 3600
    account_link_expires_s: int = 300


@dataclass
class _FieldIndex:
    ids: list[str]  # the `by_type` list indexed (replaced: index again)
    count: int = 0  # how many of its ids are indexed
    found: dict[Any, list[str]] = field(default_factory=dict)  # value -> ids, oldest first


@dataclass
class _CreatedIndex:
    ids: list[str]
    count: int = 0
    entries: list[tuple[int, int]] = field(default_factory=list)  # (created, position), sorted


class State:
    def __init__(self) -> None:
        self.config = SimConfig()
        self.webhook_faults = WebhookFaults()
        self.api_faults = ApiFaults()
        self.objects: dict[str, Record] = {}
        self.by_type: dict[str, list[str]] = {}
        self.idempotency: dict[tuple[str, str], tuple[bytes, int, bytes, float]] = {}
        self.listeners: list[Callable[[Record], None]] = []
        self.extras: dict[str, Any] = {}  # engine-private indexes (meter events by identifier, …)
        self.runtime: dict[str, Any] = {}  # live helpers (engine, dispatcher); never persisted
        # Sets an advance in progress watches: ids of records created, changed or announced since
        # (so it looks again only at those for work that became due; stripesim.engine).
        self.trackers: list[set[str]] = []
        # Moves whenever a record is created, changed in a `changing` block or announced, or a
        # request may have changed one: the real-time tick looks for due work again only after
        # it moved (stripesim.app).
        self.revision = 0
        self.sequence = 0
        # Each type's ids by their place in `by_type` (a list page starts at a cursor without
        # searching for it); rebuilt when the list it indexes is replaced or loses an id.
        # Never persisted.
        self.positions: dict[str, tuple[list[str], dict[str, int]]] = {}
        # Lookups by a field that never changes once a record is made (`having`, `created_between`),
        # kept up to date lazily: each use indexes the ids added since the last. Never persisted.
        self._field_indexes: dict[tuple[str, str], _FieldIndex] = {}
        self._created_indexes: dict[str, _CreatedIndex] = {}

    def now(self, clock: str | None = None) -> int:
        if clock:
            found = self.objects.get(clock)
            if found is not None:
                return int(found["frozen_time"])
        return int(time.time())

    def clock_of(self, record: Record | None) -> str | None:
        """The test clock governing a record: its own, or its customer's."""
        if record is None:
            return None
        clock = record.get("test_clock")
        if isinstance(clock, str):
            return clock
        # A dispute names no customer: it keeps its charge's (`_customer`), whose clock it lives on.
        customer = record.get("customer") or record.get("_customer")
        if isinstance(customer, str) and customer in self.objects:
            c = self.objects[customer].get("test_clock")
            return c if isinstance(c, str) else None
        return None

    def now_for(self, record: Record | None) -> int:
        return self.now(self.clock_of(record))

    def base_url(self) -> str:
        """Where the hosted pages are: the host the latest request reached stripesim on."""
        return str(self.runtime.get("base_url", f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"))

    def touch(self, record: Record) -> None:
        for tracker in self.trackers:
            tracker.add(record["id"])

    def insert(self, record: Record) -> Record:
        self.objects[record["id"]] = record
        self.revision += 1
        if self.trackers:
            self.touch(record)
        ids = self.by_type.setdefault(record["object"], [])
        ids.append(record["id"])
        indexed = self.positions.get(record["object"])
        if indexed is not None and indexed[0] is ids and len(indexed[1]) == len(ids) - 1:
            indexed[1][record["id"]] = len(ids) - 1
        self.sequence += 1
        return record

    def find(self, object_id: str | None, object_type: str | None = None) -> Record | None:
        if not object_id:
            return None
        found = self.objects.get(object_id)
        if found is None or (object_type is not None and found.get("object") != object_type):
            return None
        return found

    def get(self, object_id: str, object_type: str, param: str = "id") -> Record:
        found = self.find(object_id, object_type)
        if found is None or found.get("deleted"):
            kind = KIND_NAMES.get(object_type, object_type)
            raise NotFound(f"No such {kind}: '{object_id}'", param=param)
        return found

    @contextmanager
    def transient(self, records: list[Record]) -> Iterator[None]:
        """Records visible by id for the length of the block only (what a preview would create)."""
        added = [r["id"] for r in records if r["id"] not in self.objects]
        for r in records:
            self.objects.setdefault(r["id"], r)
        try:
            yield
        finally:
            for object_id in added:
                self.objects.pop(object_id, None)

    def remove(self, object_id: str) -> None:
        found = self.objects.pop(object_id, None)
        if found is not None:
            ids = self.by_type.get(found["object"], [])
            with suppress(ValueError):
                ids.remove(object_id)
            # The positions after it moved: index the type again at its next use.
            self.positions.pop(found["object"], None)
            self._created_indexes.pop(found["object"], None)
            for key in [key for key in self._field_indexes if key[0] == found["object"]]:
                del self._field_indexes[key]

    def all(self, object_type: str) -> Iterator[Record]:
        """Every live record of a type, newest first."""
        for object_id in reversed(self.by_type.get(object_type, [])):
            found = self.objects.get(object_id)
            if found is not None and not found.get("deleted"):
                yield found

    def position(self, object_type: str, object_id: str) -> int | None:
        """Where an id stands in its type's `by_type` (None: not there), without searching."""
        ids = self.by_type.get(object_type, [])
        indexed = self.positions.get(object_type)
        if indexed is None or indexed[0] is not ids or len(indexed[1]) != len(ids):
            indexed = self.positions[object_type] = (ids, {object_id: i for i, object_id in enumerate(ids)})
        found = indexed[1].get(object_id)
        if found is not None and ids[found] != object_id:  # the list changed in place: index again
            self.positions.pop(object_type)
            return self.position(object_type, object_id)
        return found

    def having(self, object_type: str, field_name: str, value: Any) -> list[Record]:
        """Live records of a type whose `field_name` (set at creation, never changed) is
        `value`, newest first, without a pass over the type: an invoice's payments at a
        renewal storm."""
        ids = self.by_type.get(object_type, [])
        index = self._field_indexes.get((object_type, field_name))
        if index is None or index.ids is not ids or index.count > len(ids):
            index = self._field_indexes[(object_type, field_name)] = _FieldIndex(ids)
        for object_id in ids[index.count :]:
            found = self.objects.get(object_id)
            if found is not None:
                index.found.setdefault(found.get(field_name), []).append(object_id)
        index.count = len(ids)
        records = (self.objects.get(object_id) for object_id in reversed(index.found.get(value, [])))
        return [r for r in records if r is not None and not r.get("deleted") and r.get(field_name) == value]

    def created_between(self, object_type: str, low: int | None, high: int | None) -> list[int]:
        """The positions in `by_type` (ascending) of a type's records created from `low` to
        `high` (both included; None: open), found without a pass over the type: the events of
        a recovery scan's window among a storm's hundred thousand."""
        ids = self.by_type.get(object_type, [])
        index = self._created_indexes.get(object_type)
        if index is None or index.ids is not ids or index.count > len(ids):
            index = self._created_indexes[object_type] = _CreatedIndex(ids)
        entries = index.entries
        for position in range(index.count, len(ids)):
            found = self.objects.get(ids[position])
            entry = (int((found or {}).get("created") or 0), position)
            if not entries or entry >= entries[-1]:
                entries.append(entry)
            else:
                bisect.insort(entries, entry)
        index.count = len(ids)
        start = 0 if low is None else bisect.bisect_left(entries, (low, -1))
        end = len(entries) if high is None else bisect.bisect_right(entries, (high, len(ids)))
        return sorted(position for _, position in entries[start:end])

    def walk(
        self, object_type: str, start: int | None = None, *, newer: bool = False, among: list[int] | None = None
    ) -> Iterator[Record]:
        """Live records of a type one by one from the position `start` (not included): the older
        ones, newest first, or with `newer` the newer ones, oldest first. Without `start`: from
        the newest (or the oldest). `among`: only those positions (ascending; `created_between`)."""
        ids = self.by_type.get(object_type, [])
        positions: Iterable[int]
        if among is not None:
            if newer:
                positions = among if start is None else among[bisect.bisect_right(among, start) :]
            else:
                positions = reversed(among if start is None else among[: bisect.bisect_left(among, start)])
        elif newer:
            positions = range(-1 if start is None else start, len(ids))[1:]
        else:
            positions = range(len(ids) if start is None else start, -1, -1)[1:]
        for i in positions:
            found = self.objects.get(ids[i])
            if found is not None and not found.get("deleted"):
                yield found

    def where(self, object_type: str, **equals: Any) -> list[Record]:
        return [r for r in self.all(object_type) if all(r.get(k) == v for k, v in equals.items())]

    def render(self, record: Record) -> Record:
        """The record as the API shows it. Keys starting with "_" are the simulator's own."""
        fn = RENDERERS.get(record.get("object", ""))
        shown = fn(self, record) if fn and not record.get("deleted") else record
        return {k: v for k, v in shown.items() if k[:1] != "_"}

    def snapshot(self, record: Record) -> Record:
        return deep_copy(self.render(record))

    def emit(
        self,
        event_type: str,
        record: Record,
        previous_attributes: dict[str, Any] | None = None,
        *,
        snapshot: Record | None = None,
        account: str | None = None,
    ) -> Record:
        """Record an event and hand it to the listeners (webhook delivery). `account`: the
        connected account it happened on (a Connect event; sent to Connect endpoints only)."""
        self.revision += 1
        if self.trackers:
            self.touch(record)
        if snapshot is None:
            # A `*.deleted` event shows the object as it was, not its deleted stub.
            snapshot = self.snapshot({k: v for k, v in record.items() if k != "deleted"})
        data: dict[str, Any] = {"object": {k: v for k, v in snapshot.items() if k != "deleted"}}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        if event_type not in pinned_event_types():
            raise ValueError(f"{event_type} is not an event type of the pinned API ({API_VERSION})")
        req = current_request.get()
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now_for(record)
            if record.get("object") != "test_helpers.test_clock"
            else int(record["frozen_time"]),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {
                "id": req.get("id") if req else None,
                "idempotency_key": req.get("idempotency_key") if req else None,
            },
            "type": event_type,
        }
        if account is not None:
            event["account"] = account
        # Retention is counted in the time of the clock the object lives on.
        event["_clock"] = record["id"] if record.get("object") == "test_helpers.test_clock" else self.clock_of(record)
        self.insert(event)
        for listener in self.listeners:
            listener(event)
        return event

    @contextmanager
    def changing(
        self, record: Record, event_type: str | None = None, *, account: str | None = None
    ) -> Iterator[Record]:
        """Mutate `record` inside the block; emit `<type>.updated` with what changed (on the
        connected `account`, if it happens on one)."""
        self.revision += 1
        if self.trackers:
            self.touch(record)
        before = self.snapshot(record)
        yield record
        after = self.snapshot(record)
        diff = previous_attributes(before, after)
        prefix = EVENT_PREFIX.get(record["object"], record["object"])
        event_type = event_type or f"{prefix}.updated"
        if event_type.endswith(".updated"):
            # Only `*.updated` events carry previous_attributes, and only when something changed;
            # some types have no `.updated` event at all (a payment intent, a checkout session).
            if diff and event_type in pinned_event_types():
                self.emit(event_type, record, diff, snapshot=after, account=account)
        else:
            # A named transition (`invoice.payment_failed`) is a fact: it is always announced.
            self.emit(event_type, record, snapshot=after, account=account)

    def idempotent_lookup(self, api_key: str, key: str) -> tuple[bytes, int, bytes] | None:
        found = self.idempotency.get((api_key, key))
        if found is None:
            return None
        fingerprint, status, body, stored_at = found
        if time.time() - stored_at > 24 * 3600:
            del self.idempotency[(api_key, key)]
            return None
        return fingerprint, status, body

    def sweep_idempotency(self) -> None:
        """Forget idempotency keys older than 24 hours, as Stripe does."""
        cutoff = time.time() - 24 * 3600
        stale = [key for key, (_, _, _, stored_at) in self.idempotency.items() if stored_at < cutoff]
        for key in stale:
            del self.idempotency[key]

    def idempotent_store(self, api_key: str, key: str, fingerprint: bytes, status: int, body: bytes) -> None:
        self.idempotency[(api_key, key)] = (fingerprint, status, body, time.time())

    def dump(self) -> bytes:
        return orjson.dumps(
            {
                "config": asdict(self.config),
                "objects": self.objects,
                "by_type": self.by_type,
                "extras": self.extras,
                "idempotency": [
                    [api_key, key, fingerprint.hex(), status, body.decode(), stored_at]
                    for (api_key, key), (fingerprint, status, body, stored_at) in self.idempotency.items()
                ],
            }
        )

    def load(self, raw: bytes) -> None:
        data = orjson.loads(raw)
        self.config = SimConfig(**data.get("config", {}))
        self.objects = data["objects"]
        self.by_type = data["by_type"]
        self.positions = {}
        self.extras = data.get("extras", {})
        self.idempotency = {
            (api_key, key): (bytes.fromhex(fingerprint), status, body.encode(), stored_at)
            for api_key, key, fingerprint, status, body, stored_at in data.get("idempotency", [])
        }


@cache
def pinned_event_types() -> frozenset[str]:
    """Every event type of the pinned API version (the SDK's event type union)."""
    return frozenset(load_reference().events)


def previous_attributes(before: Any, after: Any) -> dict[str, Any]:
    """Stripe's `previous_attributes`: the old values of what changed, nested objects diffed."""
    out: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") != "list":
            inner = previous_attributes(old, new)
            if inner:
                out[key] = inner
        else:
            out[key] = old
    for key in after:
        if key not in before:
            out[key] = None
    return out
