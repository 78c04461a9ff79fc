"""The Stripe reads of one claimed batch: made in parallel before its transaction, each once.

The worker claims a batch of events about several objects, then processes them in one
database transaction. The re-reads they need are network waits (100-300 ms each against
Stripe), so they are made *before* that transaction, concurrently, on a small thread pool
(PAYWIRE_WORKER_REREAD_THREADS); the handlers then find them here instead of asking Stripe
one after the other while holding the transaction open.

Why a read made before the handler runs is as good as one made inside it: every read here
starts after the batch was claimed, so after every claimed event was stored, hence after
the Stripe change each event announces. Each read carries the time it *started* (the
version rule of `paywire.events.mirror`), measured just before its request left, so two
groups of a batch that need the same object (a `checkout.session.completed` and the
subscription's own `customer.subscription.created`) share one read with its true version.

A read that failed (Stripe down, not found) is kept as its error: the handler that needs it
gets the same exception it would have got asking itself, so a batch retried group by group
after a failure does not ask Stripe again. Reads the handlers make that were not foreseen
(a test clock, a customer) go through `get` too and are kept for the rest of the batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from paywire.stripe import StripeGateway

# (gateway method, object id, expand)
ReadKey = tuple[str, str, tuple[str, ...]]

# The gateway's reads that may be kept for a batch: plain GETs of one object.
READ_METHODS = frozenset(
    {
        "retrieve_subscription",
        "retrieve_invoice",
        "retrieve_checkout_session",
        "retrieve_customer",
        "retrieve_payment_intent",
        "retrieve_charge",
        "retrieve_test_clock",
    }
)


def read_version() -> int:
    """The version of a snapshot whose read starts now: µs since the epoch."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Read:
    version: int  # when the read started (µs since the epoch)
    found: dict[str, Any] | None = None
    error: BaseException | None = None

    def result(self) -> tuple[int, dict[str, Any]]:
        if self.error is not None:
            raise self.error
        assert self.found is not None
        return self.version, self.found


def key(method: str, object_id: str, expand: Sequence[str] = ()) -> ReadKey:
    if method not in READ_METHODS:
        raise ValueError(f"{method} is not a read the worker keeps")
    return (method, object_id, tuple(expand))


class BatchReads:
    """Reads of one batch, by key. `prefetch` makes the foreseen ones in parallel; `get`
    returns a kept read or makes it now. Also holds what the batch learned of the mirror's
    stored versions before reading (`stored`), so a handler need not ask again."""

    def __init__(self, gateway: StripeGateway, executor: Executor | None = None) -> None:
        self.gateway = gateway
        self.executor = executor
        self._reads: dict[ReadKey, Read] = {}
        # (table, id) -> stored stripe_version, as read before the batch's re-reads.
        self.stored: dict[tuple[str, str], int | None] = {}
        self.made = 0  # requests sent to Stripe for this batch

    def _read(self, read_key: ReadKey) -> Read:
        method, object_id, expand = read_key
        call = getattr(self.gateway, method)
        version = read_version()
        self.made += 1
        try:
            found = call(object_id, expand=expand) if expand else call(object_id)
        except Exception as exc:  # kept, raised to the handler that needs it
            return Read(version, error=exc)
        return Read(version, found=found)

    def prefetch(self, keys: Iterable[ReadKey]) -> None:
        """Make these reads now, concurrently (those not made yet), and wait for them."""
        wanted = list(dict.fromkeys(k for k in keys if k not in self._reads))
        if not wanted:
            return
        if self.executor is None or len(wanted) == 1:
            for read_key in wanted:
                self._reads[read_key] = self._read(read_key)
            return
        for read_key, read in zip(wanted, self.executor.map(self._read, wanted), strict=True):
            self._reads[read_key] = read

    def get(self, method: str, object_id: str, expand: Sequence[str] = ()) -> tuple[int, dict[str, Any]]:
        """(version, object): the batch's read of it, made now if not yet. Raises what the
        read raised."""
        read_key = key(method, object_id, expand)
        read = self._reads.get(read_key)
        if read is None:
            read = self._reads[read_key] = self._read(read_key)
        return read.result()

    def has(self, method: str, object_id: str, expand: Sequence[str] = ()) -> bool:
        return key(method, object_id, expand) in self._reads


class CachingGateway:
    """The gateway as a handler sees it during a batch: the object reads of `READ_METHODS`
    come from the batch's reads (made once, kept); everything else is the gateway itself."""

    def __init__(self, gateway: StripeGateway, reads: BatchReads) -> None:
        self._gateway = gateway
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        if name in READ_METHODS:

            def kept(object_id: str, *, expand: Sequence[str] = ()) -> dict[str, Any]:
                return self._reads.get(name, object_id, expand)[1]

            return kept
        return getattr(self._gateway, name)
